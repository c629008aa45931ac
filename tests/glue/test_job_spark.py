"""run_job end to end on a small dirty CSV: outputs, accounting, duplicates, splits, the gate and the CLI."""

from __future__ import annotations

import csv
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import review_cleaning as job

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
LOOSE = {"min_rows": "5", "max_quarantine_share": "0.5", "max_duplicate_share": "0.5", "min_class_share": "0.2",
         "validation_share": "0.3", "min_text_chars": "10", "max_text_chars": "200"}


def _dirty_rows() -> list[dict[str, str]]:
    rows = []
    for i in range(24):  # 12 movies x 2 reviews, both labels
        label = "positive" if i % 2 == 0 else "negative"
        rows.append({"review": f"Review number {i} of movie {i // 2}.<br /><br />{'Loved' if i % 2 == 0 else 'Hated'} it",
                     "sentiment": label, "rating": "9" if i % 2 == 0 else "2", "file": f"train/x/{i:03d}.txt",
                     "url": f"http://movie/{i // 2}"})
    rows += [
        # exact duplicate after normalization (tags and whitespace differ), same label: collapsed, smallest id kept
        {"review": "Review number 0 of movie 0.  Loved   it", "sentiment": "POS", "rating": "9",
         "file": "train/x/900.txt", "url": "http://movie/0"},
        # conflicting duplicate: same text, labels disagree -> both copies quarantined
        {"review": "Same words, two labels", "sentiment": "positive", "rating": "", "file": "train/x/901.txt", "url": "u9"},
        {"review": "Same  words, two labels", "sentiment": "negative", "rating": "", "file": "train/x/902.txt", "url": "u9"},
        {"review": "   ", "sentiment": "positive", "rating": "", "file": "train/x/903.txt", "url": "u9"},
        {"review": "No label given here", "sentiment": "", "rating": "", "file": "train/x/904.txt", "url": "u9"},
        {"review": "Label is odd here", "sentiment": "meh", "rating": "", "file": "train/x/905.txt", "url": "u9"},
        {"review": "short", "sentiment": "negative", "rating": "", "file": "train/x/906.txt", "url": "u9"},
        {"review": "long " * 60, "sentiment": "negative", "rating": "", "file": "train/x/907.txt", "url": "u9"},
        # rows the input marks as test stay test
        {"review": "A test review that is positive", "sentiment": "1", "rating": "8", "file": "test/pos/1_8.txt", "url": "t1"},
        {"review": "A test review that is negative", "sentiment": "0", "rating": "3", "file": "test/neg/1_3.txt", "url": "t2"},
    ]
    return rows


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def finished_run(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("job")
    source = base / "raw" / "reviews.csv.gz"
    source.parent.mkdir()
    _write_csv(source, _dirty_rows())
    before = source.read_bytes()
    options = {"input_uri": str(source.parent), "curated_uri": str(base / "curated"), "run_id": "run-7", **LOOSE}
    report = job.run_job(spark, options)
    assert source.read_bytes() == before, "the raw input must never be written"
    return base / "curated", report, options


def _jsonl(folder: Path) -> list[dict]:
    files = sorted(folder.glob("part-*.json.gz"))
    assert files, f"no part files in {folder}"
    return [json.loads(line) for f in files for line in gzip.open(f, "rt", encoding="utf-8")]


def test_report_counts_and_accounting_identity(finished_run):
    out, report, _ = finished_run
    on_disk = json.loads((out / "reports" / "run-7" / "data_quality.json").read_text())
    assert on_disk["counts"] == report["counts"]
    counts = report["counts"]
    assert counts == {"read": 34, "kept": 26, "duplicates_collapsed": 1, "quarantined": 7}
    assert counts["read"] == counts["kept"] + counts["duplicates_collapsed"] + counts["quarantined"]
    reasons = {k: v for k, v in report["quarantine_reasons"].items() if v}
    assert reasons == {"near_duplicate_conflict": 2, "empty_text": 1, "missing_label": 1, "unknown_label": 1,
                       "too_short": 1, "too_long": 1}
    assert report["duplicates"] == {"groups": 1, "copies_collapsed": 1}
    assert report["passed"] is True and all(c["passed"] for c in report["checks"])
    assert report["splits"]["test"]["rows"] == 2


def test_curated_channels_are_jsonl_gzip_with_the_record_schema(finished_run):
    out, report, _ = finished_run
    records = {s: _jsonl(out / "curated" / "run-7" / s) for s in ("train", "validation", "test")}
    for split, rows in records.items():
        assert len(rows) == report["splits"][split]["rows"]
        assert all(set(r) == {"review_id", "text", "label", "rating", "split"} and r["split"] == split for r in rows)
    every = [r for rows in records.values() for r in rows]
    assert len({r["text"] for r in every}) == len(every), "a cleaned text appears twice"
    by_id = {r["review_id"]: r for r in every}
    assert by_id["train/x/000.txt"]["text"] == "Review number 0 of movie 0. Loved it"  # kept representative
    assert "train/x/900.txt" not in by_id
    assert {r["review_id"] for r in records["test"]} == {"test/pos/1_8.txt", "test/neg/1_3.txt"}
    assert by_id["test/neg/1_3.txt"]["label"] == 0 and by_id["test/neg/1_3.txt"]["rating"] == 3
    assert not list((out / "curated" / "run-7" / "train").glob("_SUCCESS"))


def test_movies_stay_on_one_side_and_splits_are_deterministic(spark, finished_run, tmp_path):
    out, _, options = finished_run
    train = _jsonl(out / "curated" / "run-7" / "train")
    validation = _jsonl(out / "curated" / "run-7" / "validation")
    movie = {f"train/x/{i:03d}.txt": i // 2 for i in range(24)}
    train_movies = {movie[r["review_id"]] for r in train if r["review_id"] in movie}
    validation_movies = {movie[r["review_id"]] for r in validation if r["review_id"] in movie}
    assert train_movies and validation_movies and not train_movies & validation_movies
    again = job.run_job(spark, {**options, "curated_uri": str(tmp_path / "again")})
    assert sorted(r["review_id"] for r in _jsonl(tmp_path / "again" / "curated" / "run-7" / "validation")) == \
        sorted(r["review_id"] for r in validation)
    assert again["splits"] == finished_run[1]["splits"]


def test_table_partitions_and_quarantine(finished_run):
    out, report, _ = finished_run
    table = out / "tables" / "reviews" / "run_id=run-7"
    for split in ("train", "validation", "test"):
        frame = pd.read_parquet(table / f"split={split}")
        assert list(frame.columns) == ["review_id", "text", "label", "rating"]
        assert len(frame) == report["splits"][split]["rows"]
    quarantine = _jsonl(out / "quarantine" / "run-7")
    assert len(quarantine) == report["counts"]["quarantined"]
    assert all(r["run_id"] == "run-7" and r["reject_reason"] for r in quarantine)
    assert {"review", "sentiment", "rating", "file", "url"} <= set(quarantine[0])
    conflicting = sorted(r["file"] for r in quarantine if r["reject_reason"] == "near_duplicate_conflict")
    assert conflicting == ["train/x/901.txt", "train/x/902.txt"]
    # every column as read, texts the cleaning changes ("Same  words", "long long ... ") and texts it leaves alone
    # ("short") alike: the Python pass returns only the changed ones (records.arrow_mapper)
    as_read = {row["file"]: {c: v if v != "" else None for c, v in row.items()} for row in _dirty_rows()}  # CSV: "" is null
    assert {r["file"]: {c: r[c] for c in as_read[r["file"]]} for r in quarantine} == {
        r["file"]: as_read[r["file"]] for r in quarantine}
    assert {"train/x/902.txt", "train/x/906.txt", "train/x/907.txt"} <= {r["file"] for r in quarantine}
    duplicates = _jsonl(out / "reports" / "run-7" / "duplicates")
    assert duplicates == [{"review_id": "train/x/900.txt", "kept_review_id": "train/x/000.txt"}]


def test_gate_refusal_writes_the_report_then_names_each_failed_check(spark, tmp_path):
    source = tmp_path / "reviews.csv.gz"
    _write_csv(source, _dirty_rows())
    options = {"input_uri": str(source), "curated_uri": str(tmp_path / "out"), "run_id": "strict",
               **LOOSE, "min_rows": "1000", "max_quarantine_share": "0.01"}
    with pytest.raises(job.DataQualityError) as caught:
        job.run_job(spark, options)
    message = str(caught.value)
    assert "min_rows (value 26, threshold 1000)" in message
    assert "max_quarantine_share (value 0.205882, threshold 0.01)" in message
    assert "max_duplicate_share" not in message
    report = json.loads((tmp_path / "out" / "reports" / "strict" / "data_quality.json").read_text())
    assert report["passed"] is False and report == caught.value.report


@pytest.mark.slow
def test_cli_exit_codes(tmp_path):
    source = tmp_path / "reviews.csv.gz"
    _write_csv(source, _dirty_rows())
    script = ROOT / "glue_scripts" / "clean_reviews.py"
    base = [sys.executable, str(script), "--curated_uri", str(tmp_path / "out"), "--run_id", "cli"]
    refused = subprocess.run([*base, "--input_uri", str(source)], capture_output=True, text=True, timeout=600,
                             env={"PATH": "/usr/bin:/bin", "DS_ON_AWS_SPARK_MASTER": "local[1]"})
    assert refused.returncode == job.EXIT_DATA_QUALITY, refused.stderr[-2000:]
    assert re.search(r"error: data-quality gate refused run cli: min_rows \(value 27, threshold 1000\); "
                     r"max_quarantine_share \(value 0\.176471, threshold 0\.05\)", refused.stderr)
    missing = subprocess.run([*base, "--input_uri", str(tmp_path / "nope")], capture_output=True, text=True,
                             timeout=600, env={"PATH": "/usr/bin:/bin", "DS_ON_AWS_SPARK_MASTER": "local[1]"})
    assert missing.returncode == job.EXIT_INPUT_ERROR
    assert f"error: input not found: {tmp_path / 'nope'}" in missing.stderr
    assert "Traceback" not in missing.stderr
