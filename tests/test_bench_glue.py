"""The Glue benchmark's pandas contender: it must apply the job's rules, write every kept row, and its isolated run
must report a failed child instead of taking the benchmark down (the 1M-row run is the one that needs that)."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_glue  # noqa: E402

ROWS = [
    # review, sentiment
    ("Great <br /><br />movie, loved it", "positive"),
    ("Great  movie, loved it", "pos"),  # the same text after normalization: collapsed
    ("Same words here, fine", "positive"),
    ("Same words here, fine", "negative"),  # copies disagree: both rejected
    ("", "positive"),  # empty text
    ("A perfectly ordinary review", "maybe"),  # unknown label
    ("Dreadful acting&hellip; avoid", "0"),
    ("Loved every minute of \x96 it", "+1"),
    ("Boring and far too long", "neg"),
    ("A tiny gem of a film", "1"),
]


@pytest.fixture()
def csv_folder(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    frame = pd.DataFrame(
        [{"review": text, "sentiment": label, "rating": "", "id": str(i), "file": f"train/x/{i}_0.txt",
          "url": f"http://www.imdb.com/title/tt{i:07d}/usercomments"} for i, (text, label) in enumerate(ROWS)])
    with gzip.open(folder / "part-0.csv.gz", "wt", encoding="utf-8") as handle:
        frame.to_csv(handle, index=False)
    return folder


def written_records(out: Path) -> list[dict]:
    records = []
    for part in sorted(out.glob("*/part-0.json.gz")):
        with gzip.open(part, "rt", encoding="utf-8") as handle:
            lines = handle.read().split("\n")
        assert lines[-1] == "", f"{part} does not end with a newline"
        assert all(lines[:-1]), f"{part} has blank lines"
        records += [json.loads(line) for line in lines[:-1]]
    return records


def test_pandas_contender_applies_the_rules_and_writes_in_chunks(csv_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(bench_glue, "JSON_CHUNK", 2)  # several chunks per split
    counts = bench_glue.pandas_clean(csv_folder, tmp_path / "out")

    assert counts == {"read": 10, "kept": 5, "duplicates": 1}
    records = written_records(tmp_path / "out")
    assert len(records) == 5
    texts = {r["text"]: r["label"] for r in records}
    assert texts == {
        "Great movie, loved it": 1,
        "Dreadful acting\u2026 avoid": 0,
        "Loved every minute of \u2013 it": 1,
        "Boring and far too long": 0,
        "A tiny gem of a film": 1,
    }  # labels are ints in the training channels (docs/architecture.md), as the Spark job writes them
    assert {r["split"] for r in records} <= {"train", "validation"}


def test_isolated_run_returns_the_childs_figures(csv_folder, tmp_path):
    result = bench_glue.run_pandas_isolated(csv_folder, tmp_path / "out")

    assert result["counts"] == {"read": 10, "kept": 5, "duplicates": 1}
    assert result["seconds"] > 0
    assert result["peak_rss_mib"] > 0
    assert len(written_records(tmp_path / "out")) == 5


def test_isolated_run_reports_a_failed_child_instead_of_raising(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()  # no CSV parts: the child's pd.concat raises

    result = bench_glue.run_pandas_isolated(empty, tmp_path / "out")

    assert result == {"failed": "exited with code 1"}


def test_isolated_run_reports_the_childs_own_peak_memory_not_the_parents(csv_folder, tmp_path):
    """ru_maxrss survives fork + exec on Linux: a child spawned from a big parent would report the parent's peak."""
    ballast = bytearray(600 * 2**20)
    ballast[:: 4096] = b"\x01" * len(ballast[:: 4096])  # touch every page, so it is resident

    result = bench_glue.run_pandas_isolated(csv_folder, tmp_path / "out")

    assert len(ballast) == 600 * 2**20
    assert 0 < result["peak_rss_mib"] < 400, result
