"""The job on exports damaged the way real review exports are: one fixture per defect class, built here, and a
property-based test that random damage never puts a broken row into the curated splits nor loses one."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from pathlib import Path

import ftfy
import pytest
import review_cleaning as job
import review_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.spark

LOOSE = {"min_rows": "1", "max_quarantine_share": "1", "max_duplicate_share": "1", "min_class_share": "0",
         "validation_share": "0.3"}
GOOD = [  # (text, label, rating): untouched English reviews, each distinct
    ("A moving story with superb acting and a score that stays with you for days.", "positive", "9"),
    ("The plot is thin and the dialogue is so wooden that I stopped caring after an hour.", "negative", "2"),
    ("I laughed out loud more than once, and the cast clearly had fun making it.", "positive", "8"),
    ("It was a waste of two hours, with bad editing and a story that goes nowhere.", "negative", "1"),
    ("One of the best films of the year: clever, warm and beautifully shot.", "positive", "10"),
    ("Boring from start to finish, and the ending makes no sense at all to me.", "negative", "3"),
]
FRENCH = "Ce film est vraiment magnifique, les acteurs jouent très bien et la musique est superbe du début à la fin."


def _write(path: Path, header: list[str], rows: list[list[str | bytes]]) -> None:
    """A CSV in UTF-8, except fields given as bytes, which are written as they are (another encoding): their
    bytes travel through the csv module as surrogate escapes."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows([[f.decode("utf-8", "surrogateescape") if isinstance(f, bytes) else f for f in row]
                      for row in rows])
    path.write_bytes(text.getvalue().encode("utf-8", "surrogateescape"))


def _run(spark, tmp_path, header, rows, **options):
    source = tmp_path / "raw" / "export.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    _write(source, header, rows)
    before = source.read_bytes()
    curated = tmp_path / "curated"
    report = job.run_job(spark, {"input_uri": str(source), "curated_uri": str(curated), "run_id": "dirty",
                                 **LOOSE, **options})
    assert source.read_bytes() == before, "the raw input must never be written"
    return report, _outputs(curated)


def _jsonl(folder: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(folder.glob("part-*.json*"))
            for line in (gzip.open(f, "rt", encoding="utf-8") if f.suffix == ".gz" else open(f, encoding="utf-8"))]


def _outputs(curated: Path) -> dict[str, list[dict]]:
    kept = [r for s in ("train", "validation", "test") if (curated / "curated" / "dirty" / s).exists()
            for r in _jsonl(curated / "curated" / "dirty" / s)]
    return {"kept": kept, "quarantine": _jsonl(curated / "quarantine" / "dirty"),
            "duplicates": _jsonl(curated / "reports" / "dirty" / "duplicates")}


def _good_rows(ids=True):
    return [[f"g{i}", t, lab, r] if ids else [t, lab, r] for i, (t, lab, r) in enumerate(GOOD)]


def test_each_defect_class_is_repaired_or_quarantined_with_its_reason(spark, tmp_path):
    rows = _good_rows() + [
        ["html", "Loved it.&lt;br /&gt;&lt;br /&gt;Great cast &amp;lt;i&amp;gt;and&amp;lt;/i&amp;gt; crew.", "positive", "9"],
        ["moji1", "A clich\u00c3\u00a9 plot, but don\u00e2\u20ac\u2122t miss the wonderful final act.", "positive", "8"],
        ["moji2", "The clich\u00c3\u0192\u00c2\u00a9s pile up and the acting is painfully flat throughout.", "negative", "2"],
        ["cp1252", b"The caf\xe9 scene is \x93pure magic\x94 and the rest is just as good.", "positive", "9"],
        ["conflict", "A film I will remember for its honesty and its wonderful lead actors.", "negative", "10"],
        ["spell1", "Charming and funny, a real family film that everybody should see.", "Positive.", "9"],
        ["spell2", "Tedious, predictable and at least forty minutes too long for its story.", "n", "3"],
        ["spell3", "Gorgeous photography and a story that grabs you from the first scene.", "postive", ""],
        ["rating", "An awful script delivered by actors who seem to be reading it for the first time.", "", "1"],
        ["unknown", "A delightful surprise with a lot of heart and a great soundtrack too.", "meh", "9"],
        ["undecided", "Some parts work, others do not, and in the end I am not sure what I think.", "", "5"],
        ["french", FRENCH, "positive", "9"],
        ["near1", "What a great film, loved every minute of it and will see it again!", "positive", "9"],
        ["near2", "what a great film loved every minute of it and will see it again", "positive", ""],
        ["clash1", "Not what I expected at all, but I still do not know what to make of it.", "positive", ""],
        ["clash2", "NOT what I expected at all but I still do not know what to make of it!!", "negative", ""],
    ]
    report, out = _run(spark, tmp_path, ["row_id", "review", "sentiment", "rating"], rows)
    kept = {r["review_id"]: r for r in out["kept"]}
    rejected = {r["row_id"]: r["reject_reason"] for r in out["quarantine"]}
    assert report["input"]["roles"]["review_id"] == "row_id"  # a unique id column is the source key
    assert kept["html"]["text"] == "Loved it. Great cast and crew."
    assert kept["moji1"]["text"] == "A clich\u00e9 plot, but don\u2019t miss the wonderful final act."
    assert kept["moji2"]["text"].startswith("The clich\u00e9s pile up")
    assert kept["cp1252"]["text"] == "The caf\u00e9 scene is \u201cpure magic\u201d and the rest is just as good."
    assert (kept["spell1"]["label"], kept["spell2"]["label"], kept["spell3"]["label"]) == (1, 0, 1)
    assert (kept["rating"]["label"], kept["unknown"]["label"]) == (0, 1)  # derived from the rating
    assert rejected == {"conflict": "label_rating_conflict", "undecided": "missing_label",
                        "french": "foreign_language", "clash1": "near_duplicate_conflict",
                        "clash2": "near_duplicate_conflict"}
    assert [d["review_id"] for d in out["duplicates"]] == ["near2"] and out["duplicates"][0]["kept_review_id"] == "near1"
    assert report["repairs"] == {"cp1252_bytes": 1, "mojibake": 2, "escaped_html": 1, "label_spelling": 3,
                                 "label_from_rating": 2}
    french = next(r for r in out["quarantine"] if r["row_id"] == "french")
    assert french["review"] == FRENCH and french["reject_detail"] == "detected fr, expected en"
    assert report["counts"] == {"read": len(rows), "kept": len(rows) - 6, "duplicates_collapsed": 1, "quarantined": 5}


def test_every_rule_has_its_switch(spark, tmp_path):
    rows = _good_rows() + [
        ["rating", "An awful script delivered by actors who seem to be reading it for the first time.", "", "1"],
        ["spell", "Charming and funny, a real family film that everybody should see.", "postive", ""],
        ["french", FRENCH, "positive", ""],
        ["five", "A film of two halves: a clever start and a lazy, predictable ending.", "negative", "5"],
    ]
    report, out = _run(spark, tmp_path, ["row_id", "review", "sentiment", "rating"], rows, label_from_rating="false",
                       repair_label_spelling="false", language="off", positive_min_rating="6",
                       negative_max_rating="5")
    rejected = {r["row_id"]: r["reject_reason"] for r in out["quarantine"]}
    assert rejected == {"rating": "missing_label", "spell": "unknown_label"}
    assert {"french", "five"} <= {r["review_id"] for r in out["kept"]}
    assert report["thresholds"]["language"] == "" and report["thresholds"]["label_from_rating"] is False


# --- random damage -----------------------------------------------------------------------------------------------

def _damage(kind: str, text: str, label: str, rating: str) -> tuple[str | bytes, str, str]:
    if kind == "escaped_html":
        return text.replace(". ", ".&lt;br /&gt;&lt;br /&gt;", 1) + " &lt;i&gt;End&lt;/i&gt;", label, rating
    if kind == "mojibake":
        return (text + " Caf\u00e9 na\u00efve.").encode("utf-8").decode("cp1252", "replace"), label, rating
    if kind == "cp1252":
        return (text + " \u201cCaf\u00e9\u201d.").encode("cp1252"), label, rating
    if kind == "case_spacing":
        return "  " + text.upper().replace(" ", "   ") + "!!", label, rating
    if kind == "label_spelling":
        return text, {"positive": "Positive.", "negative": "negtive"}[label], rating
    if kind == "missing_label":
        return text, "", rating
    if kind == "conflict":
        return text, {"positive": "negative", "negative": "positive"}[label], rating
    if kind == "foreign":
        return FRENCH + " " + text[:5], label, ""
    if kind == "empty":
        return "<br /><br />", label, rating
    return text, label, rating


KINDS = ["none", "escaped_html", "mojibake", "cp1252", "case_spacing", "label_spelling", "missing_label", "conflict",
         "foreign", "empty"]
_TAG_OR_DAMAGE = re.compile(r"</?[A-Za-z][^<>]*>|&lt;|&gt;|&amp;|\ufffd|[\x80-\x9f]")


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.sampled_from(KINDS)), min_size=8, max_size=40))
def test_random_damage_never_reaches_the_splits_and_no_row_is_lost(spark, tmp_path_factory, picks):
    rows = []
    for i, (base, kind) in enumerate(picks):
        text, label, rating = GOOD[base]
        damaged, label, rating = _damage(kind, f"{text} Copy {i // 3}.", label, rating)
        rows.append([f"r{i}", damaged, label, rating])
    report, out = _run(spark, tmp_path_factory.mktemp("prop"), ["row_id", "review", "sentiment", "rating"], rows)
    counts = report["counts"]
    assert counts["read"] == len(rows) == counts["kept"] + counts["duplicates_collapsed"] + counts["quarantined"]
    assert len(out["kept"]) == counts["kept"] and len(out["quarantine"]) == counts["quarantined"]
    assert len(out["duplicates"]) == counts["duplicates_collapsed"]
    ids = [r["review_id"] for r in out["kept"]] + [r["row_id"] for r in out["quarantine"]] + \
        [r["review_id"] for r in out["duplicates"]]
    assert sorted(ids) == sorted(r[0] for r in rows)  # every row is in exactly one place
    for record in out["kept"]:
        assert not _TAG_OR_DAMAGE.search(record["text"]), record
        assert ftfy.fix_encoding(record["text"]) == record["text"], record  # no mojibake left for ftfy to undo
        assert record["label"] in (0, 1)
        if record["rating"] is not None and (record["rating"] >= 7 or record["rating"] <= 4):
            assert record["label"] == int(record["rating"] >= 7), record
    keys = [review_text.duplicate_key(r["text"]) for r in out["kept"]]
    assert len(keys) == len(set(keys))  # no near-duplicate is kept twice, so none sits in two splits
