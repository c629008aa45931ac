"""The moderation function (stacks/constructs/moderation_runtime/index.py) on moto's S3: it reads the scoring input
the cleaning job wrote (context columns included), moderates with the detection clients (botocore Stubber here),
writes the rows SSE-KMS under scoring/<run_id>/moderation/ and answers the state machine's documented shape."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import boto3
import moderation
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from pipeline_contracts import scoring_input_key, scoring_moderation_key

INDEX = Path(__file__).resolve().parent.parent / "stacks" / "constructs" / "moderation_runtime" / "index.py"
CURATED, RAW, KEY = "curated-bucket", "raw-bucket", "arn:aws:kms:us-east-1:123456789012:key/data"
RUN = "week-48"


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@pytest.fixture
def index(monkeypatch):
    spec = importlib.util.spec_from_file_location("moderation_index", INDEX)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, value in {"CURATED_BUCKET": CURATED, "RAW_BUCKET": RAW, "KMS_KEY_ARN": KEY,
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing",
                        "MODERATION": json.dumps({"toxicity": True, "images": True, "max_image_records": 1})}.items():
        monkeypatch.setenv(name, value)
    return module


def test_the_function_moderates_every_input_file_within_the_run_budget(index, monkeypatch):
    comprehend = boto3.client("comprehend", region_name="us-east-1")
    rekognition = boto3.client("rekognition", region_name="us-east-1")
    monkeypatch.setattr(moderation, "make_clients", lambda region=None: (comprehend, rekognition))
    with mock_aws(), Stubber(comprehend) as texts, Stubber(rekognition) as images:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=CURATED)
        prefix = scoring_input_key(RUN)
        s3.put_object(Bucket=CURATED, Key=f"{prefix}/_SUCCESS", Body=b"")
        s3.put_object(Bucket=CURATED, Key=f"{prefix}/part-00000.json", Body=(
            json.dumps({"review_id": "a", "text": "you idiot", "image_key": "images/a.jpg"}) + "\n"
            + json.dumps({"review_id": "b", "text": "lovely"}) + "\n").encode())
        s3.put_object(Bucket=CURATED, Key=f"{prefix}/part-00001.json",
                      Body=(json.dumps({"review_id": "c", "text": "ok", "image_key": "images/c.png"}) + "\n").encode())
        texts.add_response("detect_toxic_content", {"ResultList": [
            {"Toxicity": 0.97, "Labels": [{"Name": "INSULT", "Score": 0.96}]}, {"Toxicity": 0.01, "Labels": []}]})
        texts.add_response("detect_toxic_content", {"ResultList": [{"Toxicity": 0.02, "Labels": []}]})
        images.add_response("detect_moderation_labels", {"ModerationLabels": []},
                            {"Image": {"S3Object": {"Bucket": RAW, "Name": "images/a.jpg"}}, "MinConfidence": 50.0})
        answer = index.handler({"run_id": RUN}, Context())
        texts.assert_no_pending_responses()
        images.assert_no_pending_responses()
        written = {}
        for name in ("part-00000.json", "part-00001.json"):
            obj = s3.get_object(Bucket=CURATED, Key=f"{scoring_moderation_key(RUN)}/{name}.jsonl")
            assert obj["ServerSideEncryption"] == "aws:kms" and obj["SSEKMSKeyId"] == KEY
            written.update({r["review_id"]: r for r in map(json.loads, obj["Body"].read().decode().splitlines())})
    assert answer == {"status": "COMPLETED", "reason": "", "enabled": {"toxicity": True, "images": True},
                      "toxicity_threshold": 0.5, "counts": {"records": 3, "flagged": 1, "errors": 1, "text": 3,
                                                            "images": 1},
                      "output": f"s3://{CURATED}/{scoring_moderation_key(RUN)}/"}
    assert written["a"]["flagged"] and written["a"]["image_labels"] == [] and written["a"]["image_key"] == "images/a.jpg"
    assert written["b"]["image_labels"] is None and written["b"]["moderation_error"] is None
    assert written["c"]["moderation_error"] == "image: not checked (over moderation.max_image_records 1)"


def test_no_input_is_a_failure_of_the_step(index, monkeypatch):
    monkeypatch.setattr(moderation, "make_clients", lambda region=None: (None, None))
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=CURATED)
        with pytest.raises(moderation.ModerationError, match="no records to moderate under s3://curated-bucket/"):
            index.handler({"run_id": RUN}, Context())
