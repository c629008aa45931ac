"""The predictions table and summary of a scoring run (``common/predictions_table.py``), on a local curated folder
laid out as a scoring run leaves it: Batch Transform's joined output and the cleaning job's duplicates report."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone

import predictions_table as pt
import pyarrow.parquet as pq
import pytest
from pipeline_contracts import duplicates_key, predictions_run_key, scoring_summary_key, scoring_transform_key

RUN = "score-run-1"
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)  # noqa: UP017 (the module runs on Python 3.9 too)


def joined(review_id, text, p=None, error=None):
    answer = {"error": error} if error else {
        "label": "positive" if p >= 0.5 else "negative", "score": max(p, 1 - p), "positive_probability": p}
    return json.dumps({"review_id": review_id, "text": text, "SageMakerOutput": answer})


@pytest.fixture
def curated(tmp_path):
    transform = tmp_path / scoring_transform_key(RUN)
    transform.mkdir(parents=True)
    (transform / "part-00000.json.out").write_text(
        "\n".join([joined("a", "loved it", 0.95), joined("b", "hated it", 0.02), joined("c", "x", error="too long")])
        + "\n", encoding="utf-8")
    (transform / "part-00001.json.out").write_text(
        "\n".join([joined("d", "fine", 0.55), joined("e", "meh", 0.31)]), encoding="utf-8")
    (transform / "_ignored.txt").write_text("not a transform output", encoding="utf-8")
    dups = tmp_path / duplicates_key(RUN)
    dups.mkdir(parents=True)
    with gzip.open(dups / "part-00000.json.gz", "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"review_id": "b2", "kept_review_id": "b"}) + "\n")
        handle.write(json.dumps({"review_id": "b3", "kept_review_id": "b"}) + "\n")
    (dups / "_SUCCESS").write_text("", encoding="utf-8")
    return tmp_path


def test_table_has_every_review_with_its_prediction(curated):
    pt.publish(str(curated), RUN, "ds-on-aws-abc", now=NOW)
    partition = curated / predictions_run_key(RUN)
    assert sorted(p.name for p in partition.iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
    table = pq.read_table(partition)
    assert table.schema.names == [name for name, _ in pt.PREDICTION_COLUMNS]
    rows = {r["review_id"]: r for r in table.to_pylist()}
    assert sorted(rows) == ["a", "b", "b2", "b3", "c", "d", "e"]
    assert rows["b2"]["label"] == "negative" and rows["b2"]["duplicate_of"] == "b"
    assert rows["b2"]["positive_probability"] == rows["b"]["positive_probability"] == 0.02
    assert rows["c"]["label"] is None and rows["c"]["error"] == "too long"
    assert {r["model_name"] for r in rows.values()} == {"ds-on-aws-abc"}
    assert rows["a"]["scored_at"] == NOW


def test_summary_counts_shares_histogram_and_extremes(curated):
    summary = pt.publish(str(curated), RUN, "m", now=NOW)
    assert summary == json.loads((curated / scoring_summary_key(RUN)).read_text(encoding="utf-8"))
    assert summary["counts"] == {"reviews": 7, "scored": 6, "errors": 1, "duplicates": 2}
    assert summary["labels"] == {"negative": {"count": 4, "share": round(4 / 6, 6)},
                                 "positive": {"count": 2, "share": round(2 / 6, 6)}}
    assert sum(summary["score_histogram"]["counts"]) == 6
    assert summary["score_histogram"]["counts"][0] == 3 and summary["score_histogram"]["counts"][9] == 1
    assert [e["review_id"] for e in summary["most_negative"]] == ["b", "e", "d", "a"]  # duplicates listed once
    assert [e["review_id"] for e in summary["most_positive"]][:2] == ["a", "d"]
    assert summary["predictions"].endswith(predictions_run_key(RUN) + "/")


def test_missing_or_malformed_transform_output_is_named(tmp_path, curated):
    with pytest.raises(pt.PublishError, match="no Batch Transform output"):
        pt.publish(str(tmp_path / "empty"), RUN, "m")
    (curated / scoring_transform_key(RUN) / "part-00001.json.out").write_text('{"review_id": "d"}\n', encoding="utf-8")
    with pytest.raises(pt.PublishError, match=r"part-00001.json.out line 1: expected \{review_id"):
        pt.publish(str(curated), RUN, "m")


def test_job_arguments_tolerate_glue_keys_and_name_missing_ones():
    args = pt.job_arguments(["--job-bookmark-option", "job-bookmark-disable", "--run_id", "r", "--curated_uri",
                             "s3://b/", "--model_name", "m"])
    assert args["run_id"] == "r" and args["job_bookmark_option"] == "job-bookmark-disable"
    with pytest.raises(SystemExit, match="--model_name"):
        pt.job_arguments(["--run_id", "r", "--curated_uri", "s3://b/"])


def test_the_cloud_path_reads_and_writes_s3_with_the_data_key(curated, monkeypatch):
    """The publish job's own path: the same run in an S3 bucket (moto), uploads SSE-KMS with the given key."""
    import boto3
    from moto import mock_aws

    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="curated")
        key_arn = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
        for path in curated.rglob("*"):
            if path.is_file():
                s3.upload_file(str(path), "curated", str(path.relative_to(curated)))
        summary = pt.publish("s3://curated/", RUN, "m", kms_key_arn=key_arn, now=NOW)
        assert summary["predictions"] == f"s3://curated/{predictions_run_key(RUN)}/"
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="curated", Prefix="tables/")["Contents"])
        assert keys == [f"{predictions_run_key(RUN)}/part-0000{i}.parquet" for i in (0, 1)]
        head = s3.head_object(Bucket="curated", Key=scoring_summary_key(RUN))
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"].endswith(key_arn.rsplit("/", 1)[1])
        body = json.loads(s3.get_object(Bucket="curated", Key=scoring_summary_key(RUN))["Body"].read())
        assert body["counts"] == {"reviews": 7, "scored": 6, "errors": 1, "duplicates": 2}


def test_context_columns_reach_the_table_and_each_copy_keeps_its_own(tmp_path):
    transform = tmp_path / scoring_transform_key(RUN)
    transform.mkdir(parents=True)
    record = {"review_id": "call-1#t2", "text": "the agent was great", "source": "s3://raw/voice/call-1.wav",
              "call_id": "call-1", "turn": "2", "speaker": "ch_1",
              "SageMakerOutput": {"label": "positive", "score": 0.9, "positive_probability": 0.9}}
    plain = {"review_id": "r", "text": "ok", "SageMakerOutput": {"label": "negative", "score": 0.6,
                                                                   "positive_probability": 0.4}}
    (transform / "part-00000.json.out").write_text(json.dumps(record) + "\n" + json.dumps(plain) + "\n",
                                                   encoding="utf-8")
    dups = tmp_path / duplicates_key(RUN)
    dups.mkdir(parents=True)
    with gzip.open(dups / "part-00000.json.gz", "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"review_id": "call-7#t1", "kept_review_id": "call-1#t2",
                                 "source": "s3://raw/voice/call-7.wav", "call_id": "call-7", "turn": "1"}) + "\n")
    pt.publish(str(tmp_path), RUN, "m", now=NOW)
    rows = {r["review_id"]: r for r in pq.read_table(tmp_path / predictions_run_key(RUN)).to_pylist()}
    assert rows["call-1#t2"]["source"] == "s3://raw/voice/call-1.wav"
    assert dict(rows["call-1#t2"]["context"]) == {"call_id": "call-1", "turn": "2", "speaker": "ch_1"}
    copy = rows["call-7#t1"]
    assert copy["duplicate_of"] == "call-1#t2" and copy["label"] == "positive"
    assert copy["source"] == "s3://raw/voice/call-7.wav"
    assert dict(copy["context"]) == {"call_id": "call-7", "turn": "1"}
    assert rows["r"]["source"] is None and rows["r"]["context"] is None
