"""``ds-on-aws score``: the scoring run offline.

Without Spark: the score stage (the model's own handlers fed as Batch Transform feeds them, joined output) and the
publish stage on a curated folder laid out as the cleaning job's score mode leaves it, model resolution, and the
command line's exit codes. With Spark (``-m spark``): the whole run on a small file, cleaning included.
"""

from __future__ import annotations

import json
import os
import time

import joblib
import numpy as np
import pandas as pd
import predictions_table
import pytest
import sentiment_model
import train
from pipeline_contracts import (
    EXIT_USAGE,
    predictions_run_key,
    scoring_input_key,
    scoring_summary_key,
    scoring_transform_key,
)

from ds_on_aws.cli import main
from ds_on_aws.local import scoring
from ds_on_aws.local.errors import UsageError
from tests.training.sm_helpers import make_reviews

RUN = "score-test"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A real model folder as training leaves it: the fitted pipeline and the inference code under code/."""
    records = make_reviews(300, seed=5)
    params = sentiment_model.ModelParams(C=4.0, word_ngram_max=2, char_ngram_min=2, char_ngram_max=4, n_jobs=1)
    model = sentiment_model.build_model(params)
    model.fit([r["text"] for r in records], np.array([r["label"] for r in records]))
    folder = tmp_path_factory.mktemp("run") / "model"
    folder.mkdir()
    joblib.dump(sentiment_model.compact(model), folder / "model.joblib")
    train.bundle_inference_code(folder)
    return folder


def write_scoring_input(curated, records, name="part-00000-abc.json"):
    folder = curated / scoring_input_key(RUN)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "_SUCCESS").write_text("", encoding="utf-8")
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_score_stage_answers_every_record_in_order_and_joins_it(tmp_path, model_dir):
    records = [{"review_id": f"id-{i}", "text": t} for i, t in
               enumerate(["a wonderful, moving film", "dull and far too long", "superb", "the worst film ever"] * 30)]
    write_scoring_input(tmp_path, records[:70])
    write_scoring_input(tmp_path, records[70:], name="part-00001-abc.json")
    assert scoring.score_run(tmp_path, RUN, model_dir, batch_size=16, progress_bar=False) == 120
    out = sorted((tmp_path / scoring_transform_key(RUN)).iterdir())
    assert [p.name for p in out] == ["part-00000-abc.json.out", "part-00001-abc.json.out"]
    joined = [json.loads(line) for p in out for line in p.read_text(encoding="utf-8").splitlines()]
    assert [j["review_id"] for j in joined] == [r["review_id"] for r in records]
    assert all(j["text"] == r["text"] for j, r in zip(joined, records, strict=True))
    assert {j["SageMakerOutput"]["label"] for j in joined} == {"positive", "negative"}
    # the same answers as one JSON request to the handlers
    expected = sentiment_model.positive_probability(joblib.load(model_dir / "model.joblib"), [r["text"] for r in records[:4]])
    got = [j["SageMakerOutput"]["positive_probability"] for j in joined[:4]]
    assert got == pytest.approx(expected.tolist(), abs=1e-6)


def test_score_then_publish_writes_the_table_and_summary(tmp_path, model_dir):
    write_scoring_input(tmp_path, [{"review_id": "a", "text": "loved it, brilliant"}, {"review_id": "b", "text": "awful"}])
    scoring.score_run(tmp_path, RUN, model_dir, batch_size=1000, progress_bar=False)
    summary = predictions_table.publish(str(tmp_path), RUN, "test-model")
    table = pd.read_parquet(tmp_path / predictions_run_key(RUN))
    assert sorted(table["review_id"]) == ["a", "b"] and set(table["model_name"]) == {"test-model"}
    assert summary["counts"]["scored"] == 2
    assert (tmp_path / scoring_summary_key(RUN)).is_file()


def test_an_empty_scoring_input_is_named(tmp_path, model_dir):
    (tmp_path / scoring_input_key(RUN)).mkdir(parents=True)
    with pytest.raises(scoring.RunnerError, match="wrote no records to score"):
        scoring.score_run(tmp_path, RUN, model_dir, batch_size=10, progress_bar=False)


def test_default_model_is_the_latest_runs(tmp_path, model_dir):
    with pytest.raises(UsageError, match="no trained model under"):
        scoring.latest_model(tmp_path)
    for name in ("local-20261101-100000", "local-20261201-100000"):
        code = tmp_path / name / "model" / "code"
        code.mkdir(parents=True)
        (code / "inference.py").write_text("", encoding="utf-8")
    old = tmp_path / "local-20261101-100000" / "model"
    os.utime(old, (time.time() + 60, time.time() + 60))  # newest by time, whatever its name
    assert scoring.latest_model(tmp_path) == old
    with pytest.raises(UsageError, match="not a model folder"):
        scoring.resolve_model(tmp_path, tmp_path, tmp_path)


def test_cli_exit_codes_for_bad_usage(tmp_path, capsys):
    assert main(["score", "--input", str(tmp_path / "missing.csv"), "--output-dir", str(tmp_path)]) == EXIT_USAGE
    assert "error:" in capsys.readouterr().err
    (tmp_path / "feedback.csv").write_text("text\ngreat\n", encoding="utf-8")
    code = main(["score", "--input", str(tmp_path / "feedback.csv"), "--output-dir", str(tmp_path / "empty")])
    assert code == EXIT_USAGE and "no trained model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["score"])
    assert exit_info.value.code == EXIT_USAGE


def _score_mode_available() -> bool:
    try:
        from review_cleaning import options
    except ImportError:
        return False
    return "mode" in getattr(options, "OPTIONAL_OPTIONS", ())


@pytest.mark.spark
@pytest.mark.skipif(not _score_mode_available(), reason="the cleaning job has no --mode score yet")
def test_score_command_end_to_end_on_a_small_file(tmp_path, model_dir, capsys):
    # context columns ride along: `source` to the table's source, the others (matched ignoring case, cast to text)
    # to its context map; a column not in scoring.context_columns (`agent`) does not
    rows = [{"id": f"r{i}", "text": t, "source": f"s3://raw/voice/call-{i}.wav", "Speaker": "ch_1", "turn": i,
             "agent": "x"} for i, t in enumerate(
        ["A wonderful film, moving and beautifully acted.", "Dull, badly written and far too long.",
         "Superb acting and a touching story.", "The worst film I have seen this year.",
         "Dull, badly written and far too long.", "Great!"] * 5 + ["<br />"])]  # "<br />": empty once cleaned
    feedback = tmp_path / "feedback.csv"
    pd.DataFrame(rows).to_csv(feedback, index=False)
    code = main(["score", "--input", str(feedback), "--model", str(model_dir), "--output-dir", str(tmp_path / "runs"),
                 "--no-progress"])
    assert code == 0, capsys.readouterr()
    (run_dir,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run_dir / "scoring_summary.json").read_text(encoding="utf-8"))
    assert summary["counts"]["reviews"] + summary["counts"].get("errors", 0) >= 4
    table = pd.read_parquet(run_dir / "curated" / predictions_run_key(run_dir.name))
    assert set(table["label"].dropna()) <= {"positive", "negative"}
    assert table["duplicate_of"].notna().any()  # the repeated reviews got the prediction of the kept one
    for row in table.itertuples():  # every row, a collapsed copy too, keeps its own source and context
        number = int(row.review_id.removeprefix("r"))
        assert row.source == f"s3://raw/voice/call-{number}.wav"
        assert dict(row.context) == {"speaker": "ch_1", "turn": str(number)}
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "Most negative reviews" in page


# --- the whole command with a stand-in for the cleaning job ----------------------------------------------------------
# The stand-in follows the score-mode contract of docs/architecture.md exactly (what the job writes, its report, its
# refusal), so the runner's machinery around it is tested on its own; the Spark test above runs the real job.


def contract_cleaning(refuse: bool = False):
    def run_cleaning(spark, options):
        import gzip

        from pipeline_contracts import duplicates_key, report_key

        from ds_on_aws.local.errors import DataQualityRefused

        assert options["mode"] == "score" and options["min_rows"] == "1"
        curated, run_id = scoring.Path(options["curated_uri"]), options["run_id"]
        frame = pd.read_csv(options["input_uri"])
        kept = frame.drop_duplicates("text")
        write_input = curated / scoring_input_key(run_id)
        write_input.mkdir(parents=True)
        (write_input / "part-00000.json").write_text(
            "".join(json.dumps({"review_id": r.id, "text": r.text}) + "\n" for r in kept.itertuples()), encoding="utf-8")
        dups = curated / duplicates_key(run_id)
        dups.mkdir(parents=True)
        with gzip.open(dups / "part-00000.json.gz", "wt", encoding="utf-8") as handle:
            for r in frame[frame.duplicated("text")].itertuples():
                kept_id = kept[kept["text"] == r.text]["id"].iloc[0]
                handle.write(json.dumps({"review_id": r.id, "kept_review_id": kept_id}) + "\n")
        report = {"mode": "score", "passed": not refuse, "counts": {"read": len(frame), "kept": len(kept)},
                  "checks": [{"name": "min_rows", "threshold": 1, "value": len(kept), "passed": not refuse}]}
        (curated / report_key(run_id)).parent.mkdir(parents=True, exist_ok=True)
        (curated / report_key(run_id)).write_text(json.dumps(report), encoding="utf-8")
        if refuse:
            refused = DataQualityRefused("Data quality gate refused run: min_rows")
            refused.report = report
            raise refused
        return report

    return run_cleaning


@pytest.fixture
def feedback(tmp_path, monkeypatch):
    monkeypatch.setattr(scoring.cleaning, "check_java", lambda: "java 17 (stand-in)")
    monkeypatch.setattr(scoring.cleaning, "local_spark", lambda input_uri=None: None)
    path = tmp_path / "feedback.csv"
    pd.DataFrame({"id": ["a", "b", "c", "d"], "text": ["Loved it, brilliant.", "Awful and dull.", "Awful and dull.",
                                                       "A touching, superb film."]}).to_csv(path, index=False)
    return path


def test_score_command_writes_table_summary_and_report(tmp_path, model_dir, feedback, monkeypatch, capsys):
    monkeypatch.setattr(scoring.cleaning, "run_cleaning", contract_cleaning())
    code = main(["score", "--input", str(feedback), "--model", str(model_dir), "--output-dir", str(tmp_path / "runs"),
                 "--no-progress"])
    assert code == 0, capsys.readouterr()
    (run_dir,) = (tmp_path / "runs").iterdir()
    table = pd.read_parquet(run_dir / "curated" / predictions_run_key(run_dir.name))
    assert sorted(table["review_id"]) == ["a", "b", "c", "d"]
    assert table.set_index("review_id").loc["c", "duplicate_of"] == "b"
    summary = json.loads((run_dir / "scoring_summary.json").read_text(encoding="utf-8"))
    assert summary["counts"] == {"reviews": 4, "scored": 4, "errors": 0, "duplicates": 1}
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert run["outcome"] == "succeeded" and run["reviews_per_second"] > 0
    assert list(run["durations"]) == list(scoring.STAGES)
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2 and "Most negative reviews" in page and "Awful and dull." in page
    assert "predictions:" in capsys.readouterr().out


def test_a_refusal_exits_3_and_still_writes_the_report(tmp_path, model_dir, feedback, monkeypatch, capsys):
    monkeypatch.setattr(scoring.cleaning, "run_cleaning", contract_cleaning(refuse=True))
    code = main(["score", "--input", str(feedback), "--model", str(model_dir), "--output-dir", str(tmp_path / "runs")])
    assert code == 3 and "Data quality gate refused" in capsys.readouterr().err
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert not (run_dir / "curated" / scoring_transform_key(run_dir.name)).exists()  # nothing was scored
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "FAIL" in page and "nothing was scored" in page
    assert json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["exit_code"] == 3


def test_moderation_results_file_reaches_the_table_summary_and_report(tmp_path, model_dir, feedback, monkeypatch,
                                                                       capsys):
    monkeypatch.setattr(scoring.cleaning, "run_cleaning", contract_cleaning())
    insult = {"ResultList": [{"Toxicity": 0.2, "Labels": [{"Name": "INSULT", "Score": 0.1}]},
                             {"Toxicity": 0.93, "Labels": [{"Name": "INSULT", "Score": 0.91}]}]}
    replies = tmp_path / "moderation.jsonl"
    replies.write_text("\n".join(json.dumps(item) for item in [
        {"review_id": "b", "DetectToxicContent": insult},
        {"review_id": "a", "DetectToxicContent": {"ResultList": [{"Toxicity": 0.01, "Labels": []}]},
         "DetectModerationLabels": {"ModerationLabels": [{"Name": "Violence", "ParentName": "", "Confidence": 90.0,
                                                          "TaxonomyLevel": 1}], "ModerationModelVersion": "7.0"}},
        {"review_id": "d", "DetectModerationLabels": {"Error": {"Code": "InvalidS3ObjectException",
                                                                "Message": "Unable to get object metadata from S3"}}},
        {"review_id": "not-in-this-run", "DetectToxicContent": insult},
    ]) + "\n", encoding="utf-8")
    code = main(["score", "--input", str(feedback), "--model", str(model_dir), "--output-dir", str(tmp_path / "runs"),
                 "--no-progress", "--moderation-results", str(replies)])
    out = capsys.readouterr().out
    assert code == 0, out
    (run_dir,) = (tmp_path / "runs").iterdir()
    table = pd.read_parquet(run_dir / "curated" / predictions_run_key(run_dir.name)).set_index("review_id")
    assert bool(table.loc["b", "flagged"]) and table.loc["b", "toxicity"] == pytest.approx(0.93)
    assert bool(table.loc["c", "flagged"]) and table.loc["c", "duplicate_of"] == "b"  # c duplicates b
    assert bool(table.loc["a", "flagged"]) and table.loc["a", "image_moderation_labels"][0]["name"] == "Violence"
    assert table.loc["d", "moderation_error"].startswith("image: InvalidS3ObjectException")
    assert pd.isna(table.loc["d", "flagged"])
    moderation = json.loads((run_dir / "scoring_summary.json").read_text(encoding="utf-8"))["moderation"]
    assert moderation["status"] == "COMPLETED" and moderation["unknown_review_ids"] == 1
    assert moderation["counts"]["flagged"] == 3 and moderation["counts"]["flagged_text"] == 2
    assert moderation["counts"]["flagged_image"] == 1 and moderation["counts"]["errors"] == 1
    assert moderation["toxicity_labels"] == {"INSULT": 2} and moderation["image_labels"] == {"Violence": 1}
    assert "moderation COMPLETED: flagged 3" in out
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "<h2>Moderation</h2>" in page and "Violence" in page


def test_a_bad_moderation_results_file_is_bad_usage(tmp_path, model_dir, feedback, monkeypatch, capsys):
    monkeypatch.setattr(scoring.cleaning, "run_cleaning", contract_cleaning())
    replies = tmp_path / "moderation.jsonl"
    replies.write_text('{"review_id": "a", "DetectToxicContent": "toxic"}\n', encoding="utf-8")
    code = main(["score", "--input", str(feedback), "--model", str(model_dir), "--output-dir", str(tmp_path / "runs"),
                 "--no-progress", "--moderation-results", str(replies)])
    assert code == EXIT_USAGE
    assert "line 1: DetectToxicContent must be the service's reply object" in capsys.readouterr().err
