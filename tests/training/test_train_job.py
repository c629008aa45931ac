"""train.py under the container contract: SM_* environment, launcher-rendered flags, outputs and failures."""

from __future__ import annotations

import csv
import gzip
import json
import re
import zlib
from pathlib import Path

import inference
import numpy as np
import pytest
import train
from review_text import normalize_label

from tests.training.sm_helpers import make_reviews, render_hyperparameters, run_training_job, write_channel

IMDB_TRAIN = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "imdb" / "train.csv.gz"
METRIC_LINE = re.compile(r"^(train|validation|test):(accuracy|f1|roc_auc)=([0-9.]+)$")
# Small and single-process: the job finishes in seconds (n_jobs=2 would start a process pool per fit).
FAST = {"C": "4", "word_ngram_max": "2", "use_char_ngrams": "false", "n_jobs": "1"}
PROBE = ["superb and touching", "awful boring waste", "the film was really a masterpiece", "worst plot"]


def metric_lines(stdout: str) -> dict[str, float]:
    found = {}
    for line in stdout.splitlines():
        match = METRIC_LINE.match(line)
        if match:
            found[f"{match[1]}:{match[2]}"] = float(match[3])
    return found


# --- the launcher's flags ---------------------------------------------------------------------------------
def test_render_hyperparameters_like_the_training_toolkit():
    argv = render_hyperparameters(
        {
            "word_ngram_max": "3",
            "C": "2.0",
            "use_char_ngrams": "true",
            "max_iter": "1e3",
            "sagemaker_program": "train.py",
        }
    )
    assert argv == ["-C", "2.0", "--max_iter", "1000.0", "--use_char_ngrams", "True", "--word_ngram_max", "3"]


def test_parse_launcher_flags_into_typed_params():
    params, args = train.parse_hyperparameters(
        render_hyperparameters(
            {"C": "0.5", "max_iter": "1e3", "use_char_ngrams": "false", "nb_alpha": "1", "seed": "7"}
        )
    )
    assert (params.C, params.max_iter, params.use_char_ngrams, params.nb_alpha, params.seed) == (
        0.5,
        1000,
        False,
        1.0,
        7,
    )
    assert isinstance(params.max_iter, int) and isinstance(params.C, float)


@pytest.mark.parametrize("argv", [["-C", "3"], ["--C", "3"], ["--C=3"]])
def test_one_letter_keys_work_with_one_or_two_dashes(argv):
    assert train.parse_hyperparameters(argv)[0].C == 3.0


def test_dashed_spelling_is_accepted_too():
    assert train.parse_hyperparameters(["--word-ngram-max", "2"])[0].word_ngram_max == 2


def test_no_flags_give_the_default_model():
    params, args = train.parse_hyperparameters([])
    assert params == train.ModelParams()
    assert args.eval_train is False


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--word_ngram_max", "0"], "word_ngram_max must be between 1 and 5, got 0"),
        (["-C", "-1"], "C must be > 0"),
        (["-C", "abc"], "invalid value for hyperparameter C"),
        (["-C", "nan"], "not a finite number"),
        (["--max_iter", "10.5"], "not a whole number"),
        (["--use_char_ngrams", "maybe"], "not a boolean"),
        (["--learning_rate", "0.1"], "unknown hyperparameter(s): --learning_rate"),
        (["--word"], "unknown hyperparameter(s): --word"),  # no prefix matching
    ],
)
def test_invalid_hyperparameters_are_refused_by_name(argv, message):
    with pytest.raises(train.HyperparameterError) as error:
        train.parse_hyperparameters(argv)
    assert message in str(error.value)


def test_main_writes_the_failure_reason_and_exits_2(tmp_path, monkeypatch):
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    assert train.main(["--word_ngram_max", "0"]) == 2
    assert "word_ngram_max must be between 1 and 5" in (tmp_path / "failure").read_text()
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(tmp_path / "missing"))
    assert train.main([]) == 2
    assert "channel 'train': folder" in (tmp_path / "failure").read_text()


def test_metric_lines_format():
    lines = train.format_metric_lines("validation", {"accuracy": 0.91234567, "f1": 0.9, "roc_auc": 0.97})
    assert lines == ["validation:accuracy=0.912346", "validation:f1=0.900000", "validation:roc_auc=0.970000"]
    assert all(re.fullmatch(r"validation:(accuracy|f1|roc_auc)=([0-9.]+)", line) for line in lines)


# --- end to end in an /opt/ml-like layout -----------------------------------------------------------------
@pytest.fixture(scope="module")
def channels():
    return {
        "train": make_reviews(400, seed=1, noise=0.3),
        "validation": make_reviews(120, seed=2, noise=0.3),
        "test": make_reviews(80, seed=3, noise=0.3),
    }


@pytest.fixture(scope="module")
def finished_job(tmp_path_factory, channels):
    root = tmp_path_factory.mktemp("opt_ml")
    result = run_training_job(root, channels, FAST | {"eval_train": "true"})
    return root, result


def test_job_prints_metric_lines_for_every_split(finished_job):
    root, result = finished_job
    assert result.returncode == 0, result.stderr
    metrics = metric_lines(result.stdout)
    assert set(metrics) == {f"{s}:{m}" for s in ("train", "validation", "test") for m in ("accuracy", "f1", "roc_auc")}
    assert metrics["validation:accuracy"] > 0.75  # synthetic signal with 30% noisy reviews is learnable
    assert not (root / "output" / "failure").exists()


def test_job_writes_model_and_metrics_json(finished_job, channels):
    root, result = finished_job
    report = json.loads((root / "model" / "metrics.json").read_text())
    assert report["rows"] == {"train": 400, "validation": 120, "test": 80}
    assert report["hyperparameters"]["C"] == 4.0 and report["hyperparameters"]["word_ngram_max"] == 2
    assert report["hyperparameters"]["use_char_ngrams"] is False
    assert report["library_versions"]["scikit-learn"] == "1.9.0"
    assert set(report["data_sha256"]) == {"train", "validation", "test"}
    assert report["skipped_files"]["train"][0].endswith("_SUCCESS")
    assert report["fit_seconds"] > 0 and report["n_features"] > 100
    printed = metric_lines(result.stdout)
    assert report["metrics"]["validation"]["accuracy"] == pytest.approx(printed["validation:accuracy"], abs=1e-6)


def test_the_model_carries_its_inference_code(finished_job):
    # model.tar.gz is the model folder: its code/ is what an isolated endpoint runs (/opt/ml/model/code).
    root, _ = finished_job
    code = root / "model" / "code"
    bundled = sorted(p.name for p in code.iterdir() if p.is_file())
    assert {"inference.py", "review_text.py", "sentiment_model.py"} <= set(bundled)
    assert "train.py" not in bundled
    files = sorted(p.relative_to(code) for p in code.rglob("*") if p.is_file())
    for name in files:  # byte-identical to the job's own code folder, the vendored libraries included
        assert (code / name).read_bytes() == (root / "code" / name).read_bytes()
    assert {"ftfy", "wcwidth"} <= {p.name for p in code.iterdir() if p.is_dir()}  # review_text's libraries
    report = json.loads((root / "model" / "metrics.json").read_text())
    assert report["inference_code"] == bundled + ["ftfy/", "wcwidth/"]


def test_bundling_refuses_a_code_folder_without_inference_py(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "helper.py").write_text("")
    with pytest.raises(FileNotFoundError, match="inference.py not found"):
        train.bundle_inference_code(tmp_path / "model", tmp_path / "src")


def test_saved_artifact_serves_through_model_fn(finished_job):
    root, _ = finished_job
    model = inference.model_fn(str(root / "model"))
    response = inference.output_fn(
        inference.predict_fn(inference.input_fn(json.dumps(PROBE), "application/json"), model), "application/json"
    )
    assert response.status_code == 200
    assert [p["label"] for p in json.loads(response.get_data())["predictions"]] == [
        "positive",
        "negative",
        "positive",
        "negative",
    ]


def test_job_exports_the_linear_scorer_next_to_model_joblib(finished_job):
    import joblib
    import linear_scorer
    import sentiment_model

    model_dir = finished_job[0] / "model"
    scorer = linear_scorer.LinearScorer.load(model_dir)
    pipeline = joblib.load(model_dir / "model.joblib")
    expected = sentiment_model.positive_probability(pipeline, PROBE)
    np.testing.assert_allclose(scorer.positive_probability(PROBE), expected, rtol=0, atol=1e-9)


def test_char_ngram_job_keeps_only_model_joblib_and_says_so(tmp_path, monkeypatch, channels, capsys):
    argv = render_hyperparameters(FAST | {"use_char_ngrams": "true", "char_ngram_max": "3"})
    assert _in_process_job(tmp_path, monkeypatch, {k: channels[k] for k in ("train", "validation")}, argv) == 0
    assert (tmp_path / "model" / "model.joblib").is_file()
    assert not (tmp_path / "model" / "linear_scorer.npz").exists()
    assert "no linear_scorer.npz, serving will load model.joblib" in capsys.readouterr().out


def test_same_data_and_hyperparameters_give_the_same_predictions(tmp_path, finished_job, channels):
    root, _ = finished_job
    again = run_training_job(tmp_path, channels, FAST | {"eval_train": "true"})
    assert again.returncode == 0, again.stderr
    first = inference.model_fn(str(root / "model")).predict_proba(PROBE)
    second = inference.model_fn(str(tmp_path / "model")).predict_proba(PROBE)
    np.testing.assert_array_equal(first, second)
    assert metric_lines(again.stdout) == metric_lines(finished_job[1].stdout)


def test_empty_hyperparameters_train_the_default_model(tmp_path, channels):
    result = run_training_job(tmp_path, {"train": channels["train"], "validation": channels["validation"]}, {})
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert report["hyperparameters"] == train.ModelParams().as_dict() | {"eval_train": False}
    assert set(metric_lines(result.stdout)) == {"validation:accuracy", "validation:f1", "validation:roc_auc"}


def test_bad_hyperparameter_fails_the_job_with_a_reason(tmp_path, channels):
    result = run_training_job(
        tmp_path, {"train": channels["train"], "validation": channels["validation"]}, {"word_ngram_max": "0"}
    )
    assert result.returncode == 2
    reason = (tmp_path / "output" / "failure").read_text()
    assert "word_ngram_max must be between 1 and 5, got 0" in reason
    assert reason.strip() in result.stderr
    # The log ends with the script's own reason, whichever launcher wraps it (one of them drops the failure file).
    assert result.stderr.strip().splitlines()[-1] == reason.strip()
    assert not (tmp_path / "model" / "model.joblib").exists()


def _in_process_job(tmp_path, monkeypatch, channels: dict, argv: list[str]) -> int:
    """train.main() in this process with the SM_* environment (the subprocess path is covered above)."""
    for name in ("TRAIN", "VALIDATION", "TEST"):
        monkeypatch.delenv(f"SM_CHANNEL_{name}", raising=False)
    for name, records in channels.items():
        monkeypatch.setenv(f"SM_CHANNEL_{name.upper()}", str(write_channel(tmp_path / "data" / name, records)))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path))
    return train.main(argv)


def test_one_class_channel_fails_the_job_with_a_reason(tmp_path, monkeypatch, channels):
    positives = [r for r in channels["train"] if r["label"] == 1]
    argv = render_hyperparameters(FAST)
    assert _in_process_job(tmp_path, monkeypatch, {"train": positives, "validation": channels["validation"]}, argv) == 2
    assert "channel 'train': only positive (1) labels" in (tmp_path / "failure").read_text()
    assert not (tmp_path / "model" / "model.joblib").exists()


def test_missing_validation_channel_fails_the_job_with_a_reason(tmp_path, monkeypatch, channels):
    argv = render_hyperparameters(FAST)
    assert _in_process_job(tmp_path, monkeypatch, {"train": channels["train"]}, argv) == 2
    assert "channel 'validation': no folder given" in (tmp_path / "failure").read_text()


def test_unexpected_errors_exit_1_with_a_reason(tmp_path, monkeypatch, channels, capsys):
    def broken(*args, **kwargs):
        raise MemoryError("simulated")

    monkeypatch.setattr(train.sentiment_model, "build_model", broken)
    argv = render_hyperparameters(FAST)
    assert _in_process_job(tmp_path, monkeypatch, channels, argv) == 1
    assert "training failed unexpectedly: MemoryError: simulated" in (tmp_path / "failure").read_text()
    printed = capsys.readouterr().err.strip().splitlines()
    assert "Traceback (most recent call last):" in printed  # the traceback for the log ...
    assert printed[-1] == "training failed unexpectedly: MemoryError: simulated"  # ... then the reason, last


# --- real data --------------------------------------------------------------------------------------------
@pytest.mark.realdata
@pytest.mark.slow
def test_real_imdb_slice_trains_to_a_sensible_accuracy(tmp_path):
    if not IMDB_TRAIN.is_file():
        pytest.skip(f"IMDb data not found at {IMDB_TRAIN}")
    with gzip.open(IMDB_TRAIN, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # Rows are sorted positive first: take both ends so both classes are present; keep movies on one side.
    sample = rows[:1000] + rows[-1000:]
    records = [
        {"review_id": r["file"], "text": r["review"], "label": normalize_label(r["sentiment"]), "url": r["url"]}
        for r in sample
    ]
    in_validation = {url for url in {r["url"] for r in records} if zlib.crc32(url.encode()) % 5 == 0}
    train_records = [r for r in records if r["url"] not in in_validation]
    validation_records = [r for r in records if r["url"] in in_validation]
    folders = {
        "train": write_channel(tmp_path / "data" / "train", train_records),
        "validation": write_channel(tmp_path / "data" / "validation", validation_records),
    }
    result = run_training_job(tmp_path / "job", folders, {"n_jobs": "1"})  # raw IMDb text: train.py normalizes it
    assert result.returncode == 0, result.stderr
    assert metric_lines(result.stdout)["validation:accuracy"] > 0.75  # 1,600 training reviews: chance is 0.5


def test_the_job_writes_per_review_validation_predictions_for_the_evaluation_report(tmp_path, monkeypatch):
    """SM_OUTPUT_DATA_DIR gets validation_predictions.json: one entry per validation review, keyed by review_id."""
    import json

    import train

    rows = [{"review_id": f"v{i}", "text": ("great fun" if i % 2 else "dull and bad") + f" film {i}", "label": i % 2}
            for i in range(40)]
    for split in ("train", "validation"):
        folder = tmp_path / split
        folder.mkdir()
        (folder / "part-0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(tmp_path / "output" / "data"))
    train.run(["--train", str(tmp_path / "train"), "--validation", str(tmp_path / "validation"),
               "--model-dir", str(tmp_path / "model")])
    written = json.loads((tmp_path / "output" / "data" / "validation_predictions.json").read_text())
    assert written["reviews"] == 40 and written["predict_seconds"] > 0
    assert [p["review_id"] for p in written["predictions"]] == [r["review_id"] for r in rows]
    assert all(0.0 <= p["positive_probability"] <= 1.0 for p in written["predictions"])
