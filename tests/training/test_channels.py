"""Reading training channels: formats the Glue job writes, and a clear error for every kind of bad channel."""

from __future__ import annotations

import gzip
import json

import pytest
from channels import ChannelError, is_data_file, read_channel

from tests.training.sm_helpers import make_reviews, write_channel


def test_reads_gzip_and_plain_parts_skipping_markers(tmp_path):
    records = make_reviews(30, seed=1)
    write_channel(tmp_path / "gz", records, parts=3, gz=True)
    write_channel(tmp_path / "plain", records, parts=2, gz=False)
    (tmp_path / "gz" / ".part-00000-c000.json.gz.crc").write_bytes(b"junk")
    gz = read_channel("train", tmp_path / "gz")
    plain = read_channel("train", tmp_path / "plain")
    assert len(gz) == len(plain) == 30
    assert sorted(gz.texts) == sorted(plain.texts)
    assert sum(gz.labels) == 15
    assert {p.rsplit("/", 1)[-1] for p in gz.skipped_files} == {"_SUCCESS", ".part-00000-c000.json.gz.crc"}
    assert len(gz.sha256) == 64


def test_reads_nested_folders_in_sorted_order(tmp_path):
    write_channel(tmp_path / "b", make_reviews(4, seed=2), parts=1)
    write_channel(tmp_path / "a", make_reviews(4, seed=3), parts=1)
    data = read_channel("train", tmp_path)
    assert [p.split("/")[-2] for p in data.files] == ["a", "b"]
    assert len(data) == 8


def test_text_is_normalized_like_everywhere_else(tmp_path):
    (tmp_path / "x.jsonl").write_text(
        json.dumps({"text": "Great<br /><br />film &amp; cast\u0085", "label": 1})
        + "\n"
        + json.dumps({"text": "dull", "label": 0.0})
        + "\n\n"
    )
    data = read_channel("validation", tmp_path)
    assert data.texts == ["Great film & cast\u2026", "dull"]
    assert data.labels == [1, 0]


def test_checksum_changes_with_content(tmp_path):
    write_channel(tmp_path / "one", make_reviews(10, seed=4), parts=1)
    write_channel(tmp_path / "two", make_reviews(10, seed=5), parts=1)
    assert read_channel("t", tmp_path / "one").sha256 == read_channel("t", tmp_path / "one").sha256
    assert read_channel("t", tmp_path / "one").sha256 != read_channel("t", tmp_path / "two").sha256


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("part-0.json", True),
        ("part-0.json.gz", True),
        ("a.jsonl", True),
        ("a.ndjson.gz", True),
        ("_SUCCESS", False),
        (".a.json", False),
        ("a.csv", False),
        ("a.gz", False),
        ("a.parquet", False),
    ],
)
def test_data_file_names(tmp_path, name, expected):
    assert is_data_file(tmp_path / name) is expected


def _write_lines(folder, *lines, name="part-0.json"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return folder


GOOD_POS = json.dumps({"text": "good", "label": 1})
GOOD_NEG = json.dumps({"text": "bad", "label": 0})


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["{not json"], r"part-0.json line 1: not valid JSON"),
        ([GOOD_POS, "[1, 2]"], r"line 2: expected a JSON object per line, got list"),
        ([GOOD_POS, json.dumps({"label": 1})], r"line 2: missing field\(s\) text"),
        ([GOOD_POS, json.dumps({"text": "x"})], r"line 2: missing field\(s\) label"),
        ([GOOD_POS, json.dumps({"text": "x", "label": 2})], r"line 2: label must be 0 or 1, got 2"),
        ([GOOD_POS, json.dumps({"text": "x", "label": "positive"})], r'label must be 0 or 1, got "positive"'),
        ([GOOD_POS, json.dumps({"text": "x", "label": True})], r"label must be 0 or 1, got true"),
        ([GOOD_POS, json.dumps({"text": "x", "label": None})], r"label must be 0 or 1, got null"),
        ([GOOD_POS, json.dumps({"text": 5, "label": 1})], r"text must be a string, got int"),
        (
            [GOOD_POS, json.dumps({"text": " <br /> ", "label": 1, "review_id": "r9"})],
            r"empty after normalization \(review_id r9\)",
        ),
        ([GOOD_POS, GOOD_POS], r"only positive \(1\) labels in 2 records"),
        ([GOOD_NEG], r"only negative \(0\) labels"),
    ],
)
def test_bad_records_name_channel_file_and_line(tmp_path, lines, message):
    folder = _write_lines(tmp_path / "train", *lines)
    with pytest.raises(ChannelError, match=message) as error:
        read_channel("train", folder)
    assert "channel 'train'" in str(error.value)


def test_missing_and_empty_channels(tmp_path):
    with pytest.raises(ChannelError, match="set SM_CHANNEL_VALIDATION"):
        read_channel("validation", None)
    with pytest.raises(ChannelError, match="does not exist"):
        read_channel("train", tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "_SUCCESS").write_bytes(b"")
    with pytest.raises(ChannelError, match=r"no JSON Lines files .* \(found: _SUCCESS\)"):
        read_channel("train", tmp_path / "empty")
    _write_lines(tmp_path / "blank", "", "  ")
    with pytest.raises(ChannelError, match="no records in 1 file"):
        read_channel("train", tmp_path / "blank")


def test_unreadable_files(tmp_path):
    folder = tmp_path / "train"
    folder.mkdir()
    (folder / "part-0.json.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ChannelError, match="cannot read part-0.json.gz"):
        read_channel("train", folder)
    (folder / "part-0.json.gz").write_bytes(gzip.compress(b'{"text": "\xff", "label": 1}\n'))
    with pytest.raises(ChannelError, match="cannot read part-0.json.gz"):
        read_channel("train", folder)


def test_one_class_allowed_when_not_required(tmp_path):
    folder = _write_lines(tmp_path / "test", GOOD_POS, GOOD_POS)
    assert read_channel("test", folder, require_both_classes=False).labels == [1, 1]
