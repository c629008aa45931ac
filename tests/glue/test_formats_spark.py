"""Every input format reads into the same standardized rows; unreadable input is a one-line InputError."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
import review_cleaning as job
from review_cleaning import InputError

pytestmark = pytest.mark.spark

OPTS = job.parse_options({"input_uri": "x", "curated_uri": "y", "run_id": "t", "min_text_chars": "3"})


def _rows(spark, path, fmt="auto"):
    """(review_id, cleaned text, label, rating, reason, split hint) per row, sorted by review_id."""
    raw = job.read_input(spark, str(path), fmt)
    keyed, _ = job.choose_key(job.classify(raw, OPTS), raw)
    out = keyed.select("review_id", "_dq_text", "_dq_label", "_dq_rating", "_dq_reason",
                                             "_dq_split_hint", "_dq_url").collect()
    return raw, sorted((tuple(r) for r in out), key=lambda r: str(r[0]))


def test_csv_rfc4180_quotes_newlines_bom_and_malformed_rows(spark, tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(
        '\ufeffText,Label,Stars,review_id\n'
        '"Loved it, ""really"".\nSecond line<br />here",Positive,9,r1\n'
        'plain review,neg,2,r2\n'
        'too,many,fields,r3,extra\n'
        'too few\n'
        '"ok again",POS,,r5\n', encoding="utf-8")
    raw, rows = _rows(spark, path)
    assert raw.input_format == "csv"
    assert raw.roles["text"] == "Text" and raw.roles["label"] == "Label" and raw.roles["rating"] == "Stars"
    by_text = {r[1]: r for r in rows}
    assert by_text['Loved it, "really". Second line here'][2:5] == (1, 9, None)
    assert by_text["plain review"][2:5] == (0, 2, None)
    assert by_text["ok again"][2:5] == (1, None, None)
    reasons = sorted(r[4] for r in rows if r[4])
    assert reasons == ["malformed_record", "malformed_record"]
    assert len(rows) == 5  # every physical record is accounted for
    assert "_corrupt_record" in raw.original_columns


def test_gzip_csv_with_test_rows_marked_by_the_file_column(spark, tmp_path):
    path = tmp_path / "imdb.csv.gz"
    frame = pd.DataFrame({"review": ["a good one here", "a bad one here"], "sentiment": ["positive", "negative"],
                          "file": ["train/pos/0_9.txt", "test/neg/0_1.txt"], "url": ["u1", "u2"]})
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        frame.to_csv(handle, index=False)
    raw, rows = _rows(spark, path)
    assert raw.roles["review_id"] == "file"
    assert [(r[0], r[5], r[6]) for r in rows] == [("test/neg/0_1.txt", "test", "u2"), ("train/pos/0_9.txt", None, "u1")]


def test_jsonl_numeric_and_boolean_labels_and_corrupt_lines(spark, tmp_path):
    path = tmp_path / "reviews.jsonl.gz"
    lines = [json.dumps({"review": "numeric one label", "label": 1, "rating": 8.0}),
             json.dumps({"review": "minus one label", "label": -1}),
             json.dumps({"review": "boolean false", "label": False}),
             json.dumps({"review": "float label", "label": 1.0, "rating": 7.5}),
             "{not json",
             json.dumps({"review": "unknown label", "label": "meh"}),
             json.dumps({"review": "   ", "label": "pos"}),
             json.dumps({"review": "no label at all"})]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    raw, rows = _rows(spark, path)
    assert raw.input_format == "jsonl" and len(rows) == 8
    got = {r[1]: (r[2], r[3], r[4]) for r in rows}
    assert got["numeric one label"] == (1, 8, None)
    assert got["minus one label"] == (0, None, None)
    assert got["boolean false"] == (0, None, None)
    assert got["float label"] == (1, None, "invalid_rating")  # 7.5 stars is not a star rating
    assert got["unknown label"][2] == "unknown_label"
    assert got[""][2] == "empty_text"
    assert got["no label at all"][2] == "missing_label"
    assert sorted(r[4] for r in rows if r[4]).count("malformed_record") == 1


def test_parquet_with_integer_labels(spark, tmp_path):
    folder = tmp_path / "pq"
    folder.mkdir()
    pd.DataFrame({"content": ["short", "a long enough review"], "target": [0, 1], "id": [1, 1]}).to_parquet(
        folder / "part-0.parquet")
    (folder / "_SUCCESS").write_text("")
    raw, rows = _rows(spark, folder)
    assert raw.input_format == "parquet"
    assert raw.roles["review_id"] is None  # "id" is not unique: ids fall back to the text hash
    assert all(len(r[0]) == 64 for r in rows)
    assert sorted((r[1], r[2]) for r in rows) == [("a long enough review", 1), ("short", 0)]


def _acl_tree(root: Path) -> None:
    for split, label, name, content in [
        ("train", "pos", "0_9.txt", b"Great <br />movie"),
        ("train", "pos", "1_8.txt", b""),
        ("train", "neg", "0_2.txt", b"Bad \xff bytes here"),
        ("train", "neg", "notes.md", b"not a review"),
        ("test", "neg", "5_1.txt", "Awful film\x85".encode()),  # a C1 char, UTF-8 encoded
    ]:
        (root / split / label).mkdir(parents=True, exist_ok=True)
        (root / split / label / name).write_bytes(content)
    (root / "test" / "pos").mkdir(parents=True)
    with gzip.open(root / "test" / "pos" / "7_10.txt.gz", "wb") as handle:
        handle.write("Zipped caf\u00e9 review".encode())
    (root / "train" / "urls_pos.txt").write_text("http://m/a\nhttp://m/b\n")
    (root / "train" / "unsup").mkdir()
    (root / "train" / "unsup" / "0_0.txt").write_text("ignored")
    (root / "README").write_text("readme")


def test_aclimdb_tree_plain_gz_empty_undecodable_and_badly_named_files(spark, tmp_path):
    _acl_tree(tmp_path / "aclImdb")
    raw, rows = _rows(spark, tmp_path)  # the parent folder: the job finds aclImdb/ inside
    assert raw.input_format == "aclimdb"
    got = {r[0]: r for r in rows}
    assert sorted(got) == ["test/neg/5_1.txt", "test/pos/7_10.txt", "train/neg/0_2.txt", "train/neg/notes.md",
                           "train/pos/0_9.txt", "train/pos/1_8.txt"]
    assert got["train/pos/0_9.txt"][1:7] == ("Great movie", 1, 9, None, None, "http://m/a")
    assert got["train/pos/1_8.txt"][4] == "empty_text"  # an empty file still counts as a row
    assert got["train/neg/0_2.txt"][4] == "undecodable"
    assert got["train/neg/notes.md"][4] == "malformed_record"
    assert got["test/neg/5_1.txt"][1:6] == ("Awful film\u2026", 0, 1, None, "test")
    assert got["test/pos/7_10.txt"][1:6] == ("Zipped caf\u00e9 review", 1, 10, None, "test")
    assert len(raw.files) == 6 and not any("unsup" in f or "urls_" in f for f in raw.files)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (None, "input not found"),
        (lambda p: (p / "x.csv").write_text("title,stars\nhello,5\n"),
         "no text column: looked for ['review', 'review_text'"),
        (lambda p: (p / "x.csv").write_text("review,id\nhello there,5\n"), "no label column"),
        (lambda p: (p / "notes.txt").write_text("hi"), "no CSV, JSON Lines, Parquet or aclImdb data found"),
        (lambda p: (p / "x.jsonl").write_text("{broken\n[also broken\n"), "every row is malformed"),
    ],
)
def test_unreadable_input_is_a_one_line_input_error(spark, tmp_path, make, message):
    folder = tmp_path / "in"
    if make is not None:
        folder.mkdir()
        make(folder)
    with pytest.raises(InputError) as caught:
        job.require_label(job.read_input(spark, str(folder)))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
