"""The managed baseline offline: the input written as the cloud run writes it, a user's Comprehend archive read,
the evaluation report and its HTML section; a bad archive refused before any work."""

from __future__ import annotations

import gzip
import json

import pytest

from ds_on_aws.cli import main
from ds_on_aws.config import load_config
from ds_on_aws.local import baseline, report
from ds_on_aws.local.errors import UsageError
from tests.baseline.archives import archive, scored, size_exceeded

RUN = "local-test"


def write_run(tmp_path, n: int = 8):
    curated = tmp_path / "curated"
    split = curated / "curated" / RUN / "validation"
    split.mkdir(parents=True)
    reviews = [{"review_id": f"r{i}", "text": f"review number {i} " * 5, "label": i % 2, "rating": None,
                "split": "validation"} for i in range(n)]
    (split / "part-00000.json.gz").write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in reviews).encode()))
    data = tmp_path / "sagemaker" / "output" / "data"
    data.mkdir(parents=True)
    predictions = [{"review_id": r["review_id"], "label": r["label"], "positive_probability": 0.9 * r["label"] + 0.05}
                   for r in reviews]
    (data / "validation_predictions.json").write_text(json.dumps(
        {"reviews": n, "predict_seconds": 0.004, "threshold": 0.5, "predictions": predictions}))
    return curated, data


def test_without_an_archive_the_run_says_the_baseline_needs_an_aws_account(tmp_path):
    curated, data = write_run(tmp_path)
    lines = []
    evaluation = baseline.evaluate_offline(run_id=RUN, run_dir=tmp_path, curated_root=curated, output_data_dir=data,
                                           comprehend_output=None, config=load_config(), echo=lines.append)
    assert any("needs an AWS account" in line for line in lines)
    assert (tmp_path / "baseline" / "documents.txt").read_text().count("\n") == 8
    assert evaluation["comprehend"]["status"] == "unavailable"
    assert evaluation["custom_model"]["metrics"]["accuracy"] == 1.0
    assert json.loads((tmp_path / "evaluation.json").read_text())["run_id"] == RUN
    assert evaluation["cost"]["estimated_for"].startswith("the equivalent cloud run")


def test_a_given_archive_is_compared_on_the_same_reviews_and_shown_in_the_html_report(tmp_path):
    curated, data = write_run(tmp_path)
    manifest_run = baseline.cb.prepare_input(baseline.validation_records(curated, RUN), 500).manifest
    records = [scored(e["line"], "POSITIVE" if e["label"] else "NEGATIVE") for e in manifest_run[:6]]
    records += [scored(6, "NEUTRAL", positive=0.1, negative=0.2), size_exceeded(7)]
    path = tmp_path / "output.tar.gz"
    path.write_bytes(archive(records))
    evaluation = baseline.evaluate_offline(run_id=RUN, run_dir=tmp_path, curated_root=curated, output_data_dir=data,
                                           comprehend_output=baseline.read_archive(path), config=load_config(),
                                           echo=lambda line: None)
    comprehend = evaluation["comprehend"]
    assert comprehend["scored"] == 7 and comprehend["errors"] == {"DOCUMENT_SIZE_EXCEEDED": 1}
    assert comprehend["neutral_or_mixed_share"] == pytest.approx(1 / 7)
    assert evaluation["custom_model"]["reviews"] == "the baseline's sample"
    page = report.evaluation_section(evaluation)
    assert "Build or buy" in page and "Amazon Comprehend" in page and "NEUTRAL/MIXED share 14.3%" in page
    assert report.evaluation_section(None) == ""


def test_a_bad_archive_is_refused_as_bad_usage_naming_the_file(tmp_path):
    bad = tmp_path / "output.tar.gz"
    bad.write_bytes(b"not an archive")
    with pytest.raises(UsageError, match="output.tar.gz: not a Comprehend output archive"):
        baseline.read_archive(bad)
    with pytest.raises(UsageError, match="no such file"):
        baseline.read_archive(tmp_path / "missing.tar.gz")


def test_the_cli_refuses_a_missing_archive_before_any_work(tmp_path, capsys):
    code = main(["run", "--output-dir", str(tmp_path), "--comprehend-output", str(tmp_path / "nope.tar.gz")])
    assert code == 2
    assert "--comprehend-output" in capsys.readouterr().err


def test_make_cost_prints_a_default_run_and_the_idle_pipeline(capsys):
    assert main(["cost"]) == 0
    out = capsys.readouterr().out
    assert "A default run:" in out and "The idle pipeline, per month" in out and "as of 2026-12-01" in out
    assert "serverless endpoint while idle" in out
