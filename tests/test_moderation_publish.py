"""The moderation columns of the predictions table and the summary's ``moderation`` section
(``predictions_table.publish`` joining ``scoring/<run_id>/moderation/`` by review id)."""

from __future__ import annotations

import json

import predictions_table as pt
import pyarrow.parquet as pq
import pytest
from pipeline_contracts import predictions_run_key, scoring_moderation_key

from tests.test_predictions_table import NOW, RUN, curated  # noqa: F401 (the fixture)

COMPLETED = {"status": "COMPLETED", "reason": "", "enabled": {"toxicity": True, "images": True},
             "toxicity_threshold": 0.5}


def moderation_row(review_id, toxicity=None, labels=None, image_labels=None, error=None, flagged=False):
    return {"review_id": review_id, "toxicity": toxicity, "toxicity_labels": labels, "image_key": None,
            "image_labels": image_labels, "flagged": flagged, "moderation_error": error}


@pytest.fixture
def moderated(curated):  # noqa: F811
    folder = curated / scoring_moderation_key(RUN)
    folder.mkdir(parents=True)
    rows = [
        moderation_row("a", 0.91, [{"name": "INSULT", "score": 0.88}, {"name": "PROFANITY", "score": 0.2}],
                       flagged=True),
        moderation_row("b", 0.05, [{"name": "INSULT", "score": 0.01}],
                       image_labels=[{"name": "Violence", "parent": None, "confidence": 91.2, "taxonomy_level": 1},
                                     {"name": "Weapons", "parent": "Violence", "confidence": 80.0,
                                      "taxonomy_level": 2}], flagged=True),
        moderation_row("c", 0.0, [], error="image: InvalidImageFormatException: Request has invalid image format"),
        moderation_row("d", None, None, error="toxicity: TooManyRequestsException: Rate exceeded"),
    ]
    (folder / "part-00000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return curated


def test_moderation_columns_are_joined_by_review_id(moderated):
    pt.publish(str(moderated), RUN, "m", now=NOW, moderation=COMPLETED)
    rows = {r["review_id"]: r for r in pq.read_table(moderated / predictions_run_key(RUN)).to_pylist()}
    assert rows["a"]["toxicity"] == 0.91 and rows["a"]["flagged"] is True
    assert rows["a"]["toxicity_labels"] == [{"name": "INSULT", "score": 0.88}, {"name": "PROFANITY", "score": 0.2}]
    assert rows["b"]["image_moderation_labels"][1] == {"name": "Weapons", "parent": "Violence", "confidence": 80.0,
                                                       "taxonomy_level": 2}
    assert rows["b2"]["flagged"] is True and rows["b2"]["duplicate_of"] == "b"  # a duplicate carries it too
    assert rows["c"]["flagged"] is False and rows["c"]["moderation_error"].startswith("image: InvalidImageFormat")
    assert rows["d"]["flagged"] is None and rows["d"]["toxicity"] is None  # nothing checked: unknown, not "clean"
    assert rows["e"]["flagged"] is None and rows["e"]["moderation_error"] is None  # no row for it


def test_summary_counts_flagged_errors_and_labels(moderated):
    summary = pt.publish(str(moderated), RUN, "m", now=NOW, moderation=COMPLETED)["moderation"]
    assert summary["status"] == "COMPLETED" and summary["enabled"] == {"toxicity": True, "images": True}
    assert summary["counts"] == {"text_checked": 5, "images_checked": 3, "flagged": 4, "flagged_text": 1,
                                 "flagged_image": 3, "errors": 2}  # b2, b3 count with b
    assert summary["toxicity_labels"] == {"INSULT": 1}
    assert summary["image_labels"] == {"Violence": 3, "Weapons": 3}
    on_disk = json.loads((moderated / "reports" / RUN / "scoring_summary.json").read_text(encoding="utf-8"))
    assert on_disk["moderation"] == summary


def test_unavailable_or_disabled_moderation_leaves_the_columns_empty(moderated):
    unavailable = {"status": "UNAVAILABLE", "reason": "Moderate feedback failed: Lambda.Unknown: boom",
                   "enabled": {"toxicity": True, "images": False}}
    summary = pt.publish(str(moderated), RUN, "m", now=NOW, moderation=unavailable)
    rows = pq.read_table(moderated / predictions_run_key(RUN)).to_pylist()
    assert all(r["toxicity"] is None and r["flagged"] is None for r in rows)  # partial rows are never joined
    assert summary["counts"]["scored"] == 6  # the scoring results are all there
    assert summary["moderation"]["status"] == "UNAVAILABLE" and "boom" in summary["moderation"]["reason"]
    assert pt.publish(str(moderated), RUN, "m", now=NOW)["moderation"]["status"] == "disabled"


def test_moderation_argument_and_bad_rows_are_named(moderated, tmp_path):
    assert pt.moderation_argument(json.dumps(COMPLETED)) == COMPLETED and pt.moderation_argument("") is None
    with pytest.raises(SystemExit, match="--moderation must be an object with a status"):
        pt.moderation_argument("[1]")
    (moderated / scoring_moderation_key(RUN) / "part-00001.jsonl").write_text("{not json\n", encoding="utf-8")
    with pytest.raises(pt.PublishError, match="part-00001.jsonl line 1: not a moderation row"):
        pt.publish(str(moderated), RUN, "m", now=NOW, moderation=COMPLETED)


def test_arrow_types_of_the_catalog_columns():
    import pyarrow as pa

    assert pt.arrow_type("array<struct<name:string,score:double>>") == pa.list_(
        pa.struct([("name", pa.string()), ("score", pa.float64())]))
    assert pt.arrow_type("map<string,string>") == pa.map_(pa.string(), pa.string())
    with pytest.raises(ValueError, match="no pyarrow type"):
        pt.arrow_type("decimal(10,2)")
