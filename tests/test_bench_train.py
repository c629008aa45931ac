"""bench_train's --channels mode: it must read a Glue run's channels exactly as the training job does, and refuse
to run the grouped grid search on data that has no movie url."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_train  # noqa: E402


def write_channel(folder: Path, records: list[dict]) -> None:
    folder.mkdir(parents=True)
    with gzip.open(folder / "part-00000.json.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in records)


@pytest.fixture()
def channels_dir(tmp_path) -> Path:
    write_channel(
        tmp_path / "train",
        [{"review_id": f"t{i}", "text": f"review number {i}", "label": i % 2, "split": "train"} for i in range(6)],
    )
    write_channel(
        tmp_path / "validation",
        [{"review_id": "v0", "text": "a good one", "label": 1, "split": "validation"},
         {"review_id": "v1", "text": "a bad one", "label": 0, "split": "validation"}],
    )
    return tmp_path


def test_channels_split_holds_the_glue_runs_rows(channels_dir):
    split = bench_train.load_channels_split(channels_dir)

    assert split["train_texts"] == [f"review number {i}" for i in range(6)]
    assert split["train_labels"] == [0, 1, 0, 1, 0, 1]
    assert split["validation_texts"] == ["a good one", "a bad one"]
    assert split["validation_labels"] == [1, 0]
    assert split["train_groups"] is None
    assert split["source"] == str(channels_dir)


def test_channels_without_baseline_params_is_refused_by_name(channels_dir, capsys):
    with pytest.raises(SystemExit) as stopped:
        bench_train.main(["--channels", str(channels_dir)])

    assert stopped.value.code == 2
    assert "--channels needs --baseline-params" in capsys.readouterr().err


def test_channels_folder_without_a_channel_is_refused_by_name(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        bench_train.main(["--channels", str(tmp_path), "--baseline-params", '{"classifier__C": 1.0}'])

    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert f"--channels {tmp_path}" in error and "channel 'train'" in error and "does not exist" in error
