"""``ds-on-aws run`` end to end on a small sample: artifacts, report, both gates, real answers over HTTP.

Uses a 3,000-review sample of ``../shared/data/imdb/train.csv.gz`` when present, else synthetic reviews made here.
The word-n-gram-only model (``use_char_ngrams=false``) keeps training to seconds; the pipeline is the real one:
the Glue job on local Spark, ``training/train.py`` under the container contract, ``inference.py`` behind the
emulated serving stack.
"""

from __future__ import annotations

import gzip
import json
import random
import tarfile
from pathlib import Path

import pytest

from ds_on_aws.config import PROJECT_ROOT
from ds_on_aws.local.endpoint import http_request, predict
from ds_on_aws.local.pipeline import RunOptions, run_pipeline

pytestmark = [pytest.mark.spark, pytest.mark.slow]

IMDB_DIR = PROJECT_ROOT.parent / "shared" / "data" / "imdb"
FAST_MODEL = {"use_char_ngrams": "false"}
SAMPLE = 3000
SMALL_SAMPLE = 1200  # the refusal runs only need to reach their gate

if not (PROJECT_ROOT / "glue_scripts" / "clean_reviews.py").is_file() or not (
        PROJECT_ROOT / "training" / "train.py").is_file():
    pytest.skip("the Glue job or the training code is not in the tree", allow_module_level=True)

POSITIVE_WORDS = "great wonderful superb moving brilliant delightful loved masterpiece touching fun".split()
NEGATIVE_WORDS = "awful boring dull terrible waste stupid hated mess painful worst".split()
NEUTRAL_WORDS = "the film movie plot actor scene story director music camera script ending cast".split()


def synthetic_reviews(path: Path, rows: int = 2400, seed: int = 7) -> Path:
    """Reviews with a learnable signal (sentiment words among neutral ones), HTML and duplicates included.

    One review in ten carries the other class's words, as real reviews sometimes do: no model reaches a perfect
    score, so a 0.999 accuracy threshold refuses it (as on the real data).
    """
    rng = random.Random(seed)
    lines = ["review,sentiment,rating"]
    for i in range(rows):
        positive = i % 2 == 0
        sounds_positive = positive if i % 10 != 3 else not positive
        words = rng.choices(NEUTRAL_WORDS, k=25) + rng.choices(POSITIVE_WORDS if sounds_positive else NEGATIVE_WORDS, k=4)
        rng.shuffle(words)
        text = " ".join(words) + f" review {i}<br /><br />the end"
        lines.append(f'"{text}",{"positive" if positive else "negative"},{rng.choice([8, 9, 10]) if positive else rng.choice([1, 2, 3])}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def data_args(tmp_path_factory) -> dict:
    """Where the test data comes from: the real IMDb sample, else synthetic reviews."""
    if (IMDB_DIR / "train.csv.gz").is_file():
        return {"imdb_dir": str(IMDB_DIR), "sample": SAMPLE, "input": None}
    return {"imdb_dir": None, "sample": None, "input": str(synthetic_reviews(tmp_path_factory.mktemp("data") / "r.csv"))}


@pytest.fixture(scope="session")
def passing_run(tmp_path_factory, data_args):
    output = tmp_path_factory.mktemp("runs")
    result = run_pipeline(RunOptions(output_dir=output, min_accuracy=0.6, hyperparameters=FAST_MODEL,
                                     keep_serving=True, **data_args), echo=lambda line: None)
    yield result
    result.endpoint.stop()


def test_passing_run_writes_every_artifact(passing_run):
    run_dir, run_id, summary = passing_run.run_dir, passing_run.run_id, passing_run.summary
    assert run_id.startswith("local-")
    assert summary["outcome"] == "succeeded"
    assert summary["data_quality_gate"] == "passed" and summary["model_quality_gate"] == "passed"
    assert summary["smoke_test"] == "passed"
    curated = run_dir / "curated" / "curated" / run_id
    for split in ("train", "validation"):
        parts = list((curated / split).glob("part-*.json.gz"))
        assert parts, split
        with gzip.open(parts[0], "rt", encoding="utf-8") as handle:
            record = json.loads(handle.readline())
        assert {"review_id", "text", "label", "split"} <= set(record) and "<br" not in record["text"]
    assert (run_dir / "curated" / "reports" / run_id / "data_quality.json").is_file()
    with tarfile.open(run_dir / "model.tar.gz") as tar:
        names = set(tar.getnames())
    # The model folder at the archive root, with the inference code the endpoint runs in code/.
    assert {"model.joblib", "metrics.json", "code/inference.py", "code/review_text.py"} <= names
    assert all(n.count("/") == 0 or n.startswith("code/") for n in names), names
    served = run_dir / "endpoint" / "code" / "inference.py"
    assert served.read_bytes() == (PROJECT_ROOT / "training" / "inference.py").read_bytes()
    counts = summary["counts"]
    assert counts["rows read"] >= counts["rows kept"] > 1000
    assert 0.6 <= summary["accuracy"] <= 1.0
    assert set(summary["durations"]) >= {"acquire data", "clean (local Spark)", "train", "local endpoint",
                                         "smoke test"}
    live = json.loads((run_dir.parent / "live_model.json").read_text())
    assert live["run_id"] == run_id and live["accuracy"] == summary["accuracy"]


def test_report_is_self_contained_with_every_plot(passing_run):
    run_dir = passing_run.run_dir
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    for plot in ("data_quality", "class_balance", "text_length", "confusion_matrix", "roc_curve"):
        png = run_dir / f"{plot}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot
        assert f'alt="{plot}"' in page
    assert page.count("data:image/png;base64,") == 5
    assert "src=\"http" not in page and "<script" not in page  # nothing fetched from elsewhere
    assert passing_run.run_id in page and "validation:accuracy" in page
    # the cleaning rules of the run, its repairs and its quarantine reasons
    for setting in ("positive_min_rating", "label_from_rating", "language_min_confidence", "max_quarantine_share"):
        assert f"<td>{setting}</td>" in page, setting
    assert "<td>mojibake</td>" in page and "<td>label_rating_conflict</td>" in page
    predictions = json.loads((run_dir / "predictions" / "validation.json").read_text())
    assert predictions and all(0.0 <= p["p_positive"] <= 1.0 for p in predictions)


def test_endpoint_answers_real_reviews_over_http(passing_run):
    url = passing_run.endpoint.url
    assert http_request(f"{url}/ping").status == 200
    texts = ["A wonderful, moving film. Brilliant acting and a superb story, I loved it.",
             "Awful. A boring, stupid waste of time; the worst film I have seen, terrible acting."]
    predictions = predict(url, texts)
    assert [p["label"] for p in predictions] == ["positive", "negative"]
    assert all(0.5 <= p["score"] <= 1.0 for p in predictions)
    lines = "\n".join(texts).encode()
    plain = http_request(f"{url}/invocations", lines, {"Content-Type": "text/plain"})
    assert [p["label"] for p in plain.json()["predictions"]] == ["positive", "negative"]
    quoted = "\n".join(f'"{t}"' for t in texts).encode()
    csv_answer = http_request(f"{url}/invocations", quoted, {"Content-Type": "text/csv"})
    assert [p["label"] for p in csv_answer.json()["predictions"]] == ["positive", "negative"]


@pytest.mark.parametrize(("body", "headers", "status"), [
    (b'{"instances": [', {"Content-Type": "application/json"}, 400),
    (b'{"instances": []}', {"Content-Type": "application/json"}, 400),
    (b"<xml/>", {"Content-Type": "application/xml"}, 415),
    (b'{"instances": ["fine"]}', {"Content-Type": "application/json", "Accept": "text/html"}, 406),
])
def test_endpoint_answers_bad_requests_with_a_client_error_and_a_message(passing_run, body, headers, status):
    answer = http_request(f"{passing_run.endpoint.url}/invocations", body, headers)
    assert answer.status == status
    assert answer.json()["error"]


def test_data_quality_refusal_exits_3_and_still_writes_the_report(tmp_path, data_args, capsys):
    from ds_on_aws.cli import main

    args = ["run", "--output-dir", str(tmp_path), "--min-rows", "10000000"]
    args += ["--input", data_args["input"]] if data_args["input"] else ["--imdb-dir", data_args["imdb_dir"],
                                                                         "--sample", str(SMALL_SAMPLE)]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert "data-quality gate refused" in err and "min_rows" in err
    run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["data_quality_gate"] == "REFUSED" and summary["exit_code"] == 3
    assert "model_quality_gate" not in summary and not (run_dir / "model.tar.gz").exists()
    assert (run_dir / "report.html").is_file() and (run_dir / "data_quality.png").is_file()


def test_model_quality_refusal_exits_4_and_still_writes_the_report(tmp_path, data_args, capsys):
    from ds_on_aws.cli import main

    args = ["run", "--output-dir", str(tmp_path), "--min-accuracy", "0.999", "--hyperparameter",
            "use_char_ngrams=false"]
    args += ["--input", data_args["input"]] if data_args["input"] else ["--imdb-dir", data_args["imdb_dir"],
                                                                         "--sample", str(SMALL_SAMPLE)]
    assert main(args) == 4
    err = capsys.readouterr().err
    assert "model-quality gate refused the model: validation:accuracy=" in err and "0.9990" in err
    run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["model_quality_gate"] == "REFUSED" and summary["exit_code"] == 4
    assert not (run_dir / "model.tar.gz").exists() and "endpoint" not in summary
    assert not (tmp_path / "live_model.json").exists()
    assert (run_dir / "confusion_matrix.png").is_file() and (run_dir / "report.html").is_file()
