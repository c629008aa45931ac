"""The Glue job's pure parts: job arguments, column detection, format detection, regex translation, the report."""

from __future__ import annotations

import re
from dataclasses import fields

import pytest
import review_cleaning as job
from review_cleaning import InputError

from ds_on_aws.config import DataQualityConfig

BASE = {"input_uri": "in/", "curated_uri": "out/", "run_id": "run-1"}


def test_threshold_defaults_match_the_config_dataclass():
    config = DataQualityConfig()
    assert job.DEFAULT_THRESHOLDS == {k.removeprefix("--"): v for k, v in config.as_job_arguments().items()}
    assert {f.name for f in fields(config)} == set(job.DEFAULT_THRESHOLDS)
    assert config.as_job_arguments()["--label_from_rating"] == "true"
    # and the arguments the stacks pass are exactly the ones the job accepts
    assert {k.removeprefix("--") for k in config.as_job_arguments()} <= set(job.OPTIONAL_OPTIONS)


def test_parse_options_defaults_and_types():
    opts = job.parse_options({**BASE, "min_rows": "5", "validation_share": "0.2", "input_format": " CSV "})
    assert (opts.min_rows, opts.validation_share, opts.input_format, opts.seed) == (5, 0.2, "csv", 42)
    assert (opts.mode, opts.positive_min_rating, opts.negative_max_rating, opts.label_from_rating,
            opts.language) == ("train", 7, 4, True, "en")
    opts = job.parse_options({**BASE, "mode": "score", "label_from_rating": "false", "language": "off",
                              "repair_label_spelling": "no", "language_min_confidence": "0.75"})
    assert (opts.mode, opts.label_from_rating, opts.language, opts.repair_label_spelling,
            opts.language_min_confidence) == ("score", False, "", False, 0.75)
    opts = job.parse_options({**BASE, "mode": "score", "context_columns": " source, call_id,,source "})
    assert opts.context_columns == ("source", "call_id")
    assert job.parse_options({**BASE, "mode": "score", "context_columns": ""}).context_columns == ()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"min_rows": "many"}, "--min_rows: expected an integer, got 'many'"),
        ({"max_quarantine_share": "1.5"}, "--max_quarantine_share: must be between 0 and 1"),
        ({"min_class_share": "0.6"}, "--min_class_share: must be at most 0.5"),
        ({"min_text_chars": "100", "max_text_chars": "10"}, "--min_text_chars (100) must be below"),
        ({"input_format": "xml"}, "--input_format: one of"),
        ({"run_id": "../etc"}, "--run_id: letters, digits"),
        ({"run_id": ""}, "missing job argument(s) ['--run_id']"),
        ({"colour": "red"}, "unknown job argument(s) ['--colour']"),
        ({"mode": "predict"}, "--mode: one of ['train', 'score']"),
        ({"label_from_rating": "maybe"}, "--label_from_rating: expected true or false, got 'maybe'"),
        ({"language": "english"}, "--language: an ISO 639-1 language code"),
        ({"negative_max_rating": "7"}, "--negative_max_rating (7) must be below --positive_min_rating (7)"),
        ({"language_min_confidence": "2"}, "--language_min_confidence: must be between 0 and 1"),
        ({"context_columns": "source"}, "--context_columns: applies to --mode score only"),
        ({"mode": "score", "context_columns": "source,Call-Id"}, "got ['Call-Id']"),
        ({"mode": "score", "context_columns": "text"}, "not ['review_id', 'text', 'context']"),
    ],
)
def test_parse_options_names_the_bad_argument(extra, message):
    with pytest.raises(InputError) as caught:
        job.parse_options({**BASE, **extra})
    assert message in str(caught.value)


def test_find_column_is_case_space_and_bom_insensitive_and_ordered():
    assert job.find_column(["\ufeffReview ", "Sentiment"], ("review", "text")) == "\ufeffReview "
    assert job.find_column(["text", "review"], ("review", "text")) == "review"
    assert job.find_column(["body"], ("review",)) is None


def test_detect_format_by_extension_and_its_errors():
    assert job.detect_format(["a/x.csv.gz", "a/README.md"]) == ("csv", ["a/x.csv.gz"], ["a/README.md"])
    assert job.detect_format(["p/part-0.snappy.parquet"])[0] == "parquet"
    assert job.detect_format(["r.JSONL.gz", "s.ndjson"])[0] == "jsonl"
    with pytest.raises(InputError, match=r"mixed input formats \['csv', 'parquet'\]"):
        job.detect_format(["a.csv", "b.parquet"])
    with pytest.raises(InputError, match="no CSV, JSON Lines, Parquet or aclImdb data found"):
        job.detect_format(["notes.txt"])
    with pytest.raises(InputError, match="extract them first"):
        job.detect_format(["aclImdb_v1.tar.gz"])


def _figures(kept_pos=600, kept_neg=400, dup=10, quarantined=None, leaked=0):
    quarantined = quarantined or {}
    rows = [
        {"_dq_status": "kept", "_dq_reason": None, "split": "train", "_dq_label": 1, "n": kept_pos},
        {"_dq_status": "kept", "_dq_reason": None, "split": "train", "_dq_label": 0, "n": kept_neg},
        {"_dq_status": "kept", "_dq_reason": None, "split": "validation", "_dq_label": 1, "n": 60},
        {"_dq_status": "kept", "_dq_reason": None, "split": "validation", "_dq_label": 0, "n": 40},
        {"_dq_status": "duplicate", "_dq_reason": None, "split": None, "_dq_label": 1, "n": dup},
    ] + [{"_dq_status": "quarantined", "_dq_reason": r, "split": None, "_dq_label": None, "n": n}
         for r, n in quarantined.items()]
    for row in rows:
        row.update({"seen:break_tags": 1, "seen:c1_controls": 0, "seen:entities": 0, "changed": 1,
                    **{f"repair:{kind}": 0 for kind in job.REPAIRS}, "repair:mojibake": 2})
    return {"counts": rows, "stats": {"cmin": 12, "cmed": 900.0, "cmean": 1000.5, "cmax": 5000, "wmin": 3,
                                      "wmed": 170, "wmean": 200.25, "wmax": 900},
            "leaked_texts": leaked, "leaked_groups": 0, "urls_shared_with_test": 0, "duplicate_groups": 4}


def _raw(url=True):
    return job.RawInput(df=None, input_format="csv", original_columns=["review", "sentiment"],
                        roles={"url": "url" if url else None}, files=["x.csv"])


def test_report_passes_and_keeps_the_accounting_identity():
    opts = job.parse_options(BASE)
    report = job.build_report(_figures(quarantined={"empty_text": 3}), _raw(), opts, job.output_uris("out/", "run-1"))
    assert report["passed"] is True
    assert report["counts"] == {"read": 1113, "kept": 1100, "duplicates_collapsed": 10, "quarantined": 3}
    assert report["quarantine_reasons"]["empty_text"] == 3
    assert report["mode"] == "train"
    assert report["repairs"] == {**{kind: 0 for kind in job.REPAIRS}, "mojibake": 2 * 6}
    assert report["cleaning"]["rows_with_break_tags"] == 6
    assert report["thresholds"]["language"] == "en" and report["thresholds"]["positive_min_rating"] == 7
    assert report["splits"]["validation"] == {"rows": 100, "positive": 60, "negative": 40,
                                              "positive_share": 0.6, "negative_share": 0.4}
    assert "test" not in report["splits"]
    names = [c["name"] for c in report["checks"]]
    assert names[:4] == ["accounting_identity", "min_rows", "max_quarantine_share", "max_duplicate_share"]
    assert {"min_class_share:train", "min_class_share:validation", "no_leakage", "no_group_leakage"} <= set(names)
    assert report["outputs"]["report"] == "out/reports/run-1/data_quality.json"


def test_report_fails_and_the_message_names_each_failed_check():
    opts = job.parse_options({**BASE, "min_rows": "5000"})
    figures = _figures(kept_pos=950, kept_neg=50, quarantined={"unknown_label": 200}, leaked=2)
    report = job.build_report(figures, _raw(url=False), opts, job.output_uris("out", "run-1"))
    assert report["passed"] is False
    failed = {c["name"] for c in report["checks"] if not c["passed"]}
    assert failed == {"min_rows", "max_quarantine_share", "min_class_share", "min_class_share:train", "no_leakage"}
    message = job.failure_message(report)
    assert "min_rows (value 1100, threshold 5000)" in message
    assert re.search(r"max_quarantine_share \(value 0\.15\d*, threshold 0\.05\)", message)
    assert "no_leakage (value 2, threshold 0)" in message
    assert "no_group_leakage" not in [c["name"] for c in report["checks"]]
    assert message.endswith("Report: out/reports/run-1/data_quality.json")


def test_scoring_report_checks_only_what_scoring_needs():
    opts = job.parse_options({**BASE, "mode": "score"})
    figures = _figures(kept_pos=0, kept_neg=0, quarantined={"empty_text": 3})
    for row in figures["counts"]:
        row["split"], row["_dq_label"] = None, None
    report = job.build_report(figures, _raw(), opts, job.output_uris("out", "run-1", "score"))
    assert [c["name"] for c in report["checks"]] == ["accounting_identity", "min_rows", "max_quarantine_share"]
    assert report["passed"] and report["splits"] == {} and report["mode"] == "score"
    assert report["outputs"]["scoring_input"] == "out/scoring/run-1/input"
