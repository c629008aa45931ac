"""common/moderation.py against real botocore clients: requests checked by botocore's Stubber against the services'
models (DetectToxicContent, DetectModerationLabels), throttling retried by botocore's own retry handler."""

from __future__ import annotations

import json
from unittest import mock

import boto3
import botocore.endpoint
import moderation as md
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.stub import ANY, Stubber

RAW = "raw-bucket"


def client(service: str, **config):
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(**config) if config else None)


def toxic(score: float, insult: float = 0.0) -> dict:
    return {"Toxicity": score, "Labels": [{"Name": "INSULT", "Score": insult}, {"Name": "PROFANITY", "Score": 0.01}]}


def settings(**overrides) -> md.Settings:
    return md.Settings(**{"toxicity": True, "concurrency": 1, **overrides})


def test_segments_stay_within_the_byte_limit_and_split_at_words():
    text = " ".join(["héllo"] * 400)  # 6 UTF-8 bytes a word
    pieces = md.segments(text)
    assert all(len(p.encode("utf-8")) <= md.SEGMENT_BYTES for p in pieces)
    assert " ".join(pieces) == text and len(pieces) == 3
    assert md.segments("x" * 2500) == ["x" * 1000, "x" * 1000, "x" * 500]  # a word over the limit is cut
    assert md.segments("  ") == []


def test_batches_respect_ten_segments_and_ten_kilobytes():
    texts = ["short text"] * 23 + ["w " * 1800]  # the last one: 4 segments of ~1,000 bytes
    batches = md.text_batches(texts)
    assert all(len(b.texts) <= 10 and b.size <= md.REQUEST_BYTES for b in batches)
    owners = [o for b in batches for o in b.owners]
    assert owners[:23] == [(i, 0) for i in range(23)] and [o for o in owners if o[0] == 23] == [(23, n) for n in range(4)]


def test_a_long_text_and_more_records_than_a_batch_take_the_max_over_segments():
    long_text = ("fine words " * 100 + "you idiot " * 100).strip()  # ~2,100 bytes: 3 segments
    records = [{"review_id": f"r{i}", "text": f"review number {i}"} for i in range(12)] + [
        {"review_id": "long", "text": long_text}]
    comprehend = client("comprehend")
    with Stubber(comprehend) as stub:
        first = {"TextSegments": [{"Text": f"review number {i}"} for i in range(10)], "LanguageCode": "en"}
        stub.add_response("detect_toxic_content", {"ResultList": [toxic(0.01)] * 9 + [toxic(0.9, 0.8)]}, first)
        stub.add_response("detect_toxic_content", {"ResultList": [toxic(0.02), toxic(0.03), toxic(0.1),
                                                                  toxic(0.7, 0.95), toxic(0.2, 0.4)]},
                          {"TextSegments": ANY, "LanguageCode": "en"})
        rows = md.moderate(records, settings(), comprehend=comprehend)
        stub.assert_no_pending_responses()
    by_id = {r["review_id"]: r for r in rows}
    assert by_id["r9"]["flagged"] and by_id["r9"]["toxicity"] == 0.9 and not by_id["r0"]["flagged"]
    assert by_id["long"]["toxicity"] == 0.7  # the max over its three segments
    assert {"name": "INSULT", "score": 0.95} in by_id["long"]["toxicity_labels"]
    assert all(r["moderation_error"] is None and r["image_labels"] is None for r in rows)


def test_a_failed_batch_is_retried_record_by_record_and_the_bad_record_keeps_its_error():
    records = [{"review_id": "a", "text": "good"}, {"review_id": "b", "text": "bad"}]
    comprehend = client("comprehend")
    with Stubber(comprehend) as stub:
        stub.add_client_error("detect_toxic_content", "TextSizeLimitExceededException", "too long")
        stub.add_response("detect_toxic_content", {"ResultList": [toxic(0.1)]},
                          {"TextSegments": [{"Text": "good"}], "LanguageCode": "en"})
        stub.add_client_error("detect_toxic_content", "TextSizeLimitExceededException", "too long",
                              expected_params={"TextSegments": [{"Text": "bad"}], "LanguageCode": "en"})
        rows = md.moderate(records, settings(), comprehend=comprehend)
    assert rows[0]["toxicity"] == 0.1 and rows[0]["moderation_error"] is None
    assert rows[1]["toxicity"] is None and rows[1]["moderation_error"] == (
        "toxicity: TextSizeLimitExceededException: too long")
    assert not rows[1]["flagged"]


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **kwargs):
        yield self.body


def test_throttling_is_retried_by_botocore_with_backoff():
    comprehend = client("comprehend", retries={"mode": "standard", "max_attempts": md.RETRY_ATTEMPTS})
    answers = [(400, {"__type": "TooManyRequestsException", "Message": "Rate exceeded"})] * 2 + [
        (200, {"ResultList": [toxic(0.6)]})]
    sent = []

    def reply(request, **kwargs):
        sent.append(json.loads(request.body))
        status, body = answers[len(sent) - 1]
        return AWSResponse(request.url, status, {"x-amzn-RequestId": "r"}, _Raw(json.dumps(body).encode()))

    comprehend.meta.events.register("before-send.comprehend.DetectToxicContent", reply)
    with mock.patch.object(botocore.endpoint.time, "sleep") as slept:
        rows = md.moderate([{"review_id": "a", "text": "hello"}], settings(), comprehend=comprehend)
    assert len(sent) == 3 and sent[0] == sent[2] == {"TextSegments": [{"Text": "hello"}], "LanguageCode": "en"}
    assert slept.call_count == 2  # botocore backed off twice
    assert rows[0]["toxicity"] == 0.6 and rows[0]["flagged"]


def test_throttled_after_the_retries_is_an_error_of_those_records_only():
    comprehend = client("comprehend")
    with Stubber(comprehend) as stub:
        stub.add_client_error("detect_toxic_content", "TooManyRequestsException", "Rate exceeded")
        rows = md.moderate([{"review_id": "a", "text": "x"}, {"review_id": "b", "text": "y"}], settings(),
                           comprehend=comprehend)
    assert [r["moderation_error"] for r in rows] == ["toxicity: TooManyRequestsException: Rate exceeded"] * 2


def test_images_get_labels_or_a_per_record_error():
    records = [
        {"review_id": "ok", "text": "t", "image_key": "images/a.jpg"},
        {"review_id": "uri", "text": "t", "image_key": f"s3://{RAW}/images/b.png"},
        {"review_id": "corrupt", "text": "t", "image_key": "images/c.jpg"},
        {"review_id": "elsewhere", "text": "t", "image_key": "s3://other/images/d.jpg"},
        {"review_id": "outside", "text": "t", "image_key": "private/e.jpg"},
        {"review_id": "gif", "text": "t", "image_key": "images/f.gif"},
        {"review_id": "none", "text": "t"},
    ]
    rekognition = client("rekognition")
    label = {"Name": "Explicit Nudity", "ParentName": "", "Confidence": 97.5, "TaxonomyLevel": 1}
    with Stubber(rekognition) as stub:
        for key, reply in (("images/a.jpg", {"ModerationLabels": [label], "ModerationModelVersion": "7.0"}),
                           ("images/b.png", {"ModerationLabels": []})):
            stub.add_response("detect_moderation_labels", reply,
                              {"Image": {"S3Object": {"Bucket": RAW, "Name": key}}, "MinConfidence": 50.0})
        stub.add_client_error("detect_moderation_labels", "InvalidImageFormatException", "Request has invalid image format")
        rows = {r["review_id"]: r for r in md.moderate(records, settings(toxicity=False, images=True),
                                                       rekognition=rekognition, raw_bucket=RAW)}
        stub.assert_no_pending_responses()
    assert rows["ok"]["image_labels"] == [{"name": "Explicit Nudity", "parent": None, "confidence": 97.5,
                                           "taxonomy_level": 1}] and rows["ok"]["flagged"]
    assert rows["uri"]["image_labels"] == [] and not rows["uri"]["flagged"]
    assert rows["corrupt"]["moderation_error"] == "image: InvalidImageFormatException: Request has invalid image format"
    assert "outside the raw bucket" in rows["elsewhere"]["moderation_error"]
    assert "outside moderation.image_prefix" in rows["outside"]["moderation_error"]
    assert "not a JPEG or PNG" in rows["gif"]["moderation_error"]
    assert rows["none"]["image_labels"] is None and rows["none"]["moderation_error"] is None


def test_limits_leave_records_unchecked_with_the_reason():
    records = [{"review_id": f"r{i}", "text": "t", "image_key": f"images/{i}.jpg"} for i in range(3)]
    rekognition, comprehend = client("rekognition"), client("comprehend")
    with Stubber(rekognition) as images, Stubber(comprehend) as texts:
        texts.add_response("detect_toxic_content", {"ResultList": [toxic(0.0)] * 2})
        for _ in range(2):
            images.add_response("detect_moderation_labels", {"ModerationLabels": []})
        rows = md.moderate(records, settings(images=True, max_text_records=2, max_image_records=2),
                           comprehend=comprehend, rekognition=rekognition, raw_bucket=RAW)
    assert rows[2]["toxicity"] is None and rows[2]["image_labels"] is None
    assert "max_text_records 2" in rows[2]["moderation_error"] and "max_image_records 2" in rows[2]["moderation_error"]
    assert rows[0]["moderation_error"] is None


def test_a_passed_deadline_starts_no_request():
    deadline = md.Deadline(seconds=0)
    rows = md.moderate([{"review_id": "a", "text": "x"}], settings(), comprehend=client("comprehend"), deadline=deadline)
    assert rows[0]["moderation_error"] == "toxicity: not checked (time limit of the moderation step)"


def test_replies_file_in_the_services_shapes_gives_the_same_rows():
    lines = [
        json.dumps({"review_id": "a", "DetectToxicContent": {"ResultList": [toxic(0.2), toxic(0.8, 0.7)]},
                    "image_key": "images/a.jpg",
                    "DetectModerationLabels": {"ModerationLabels": [{"Name": "Violence", "Confidence": 88.0,
                                                                     "ParentName": "", "TaxonomyLevel": 1}]}}),
        "",
        json.dumps({"review_id": "b", "DetectModerationLabels": {"Error": {"Code": "ImageTooLargeException",
                                                                           "Message": "Image size is too large"}}}),
    ]
    a, b = md.rows_from_replies(lines, md.Settings(toxicity=True, images=True))
    assert a["toxicity"] == 0.8 and a["flagged"] and a["image_labels"][0]["name"] == "Violence"
    assert b["moderation_error"] == "image: ImageTooLargeException: Image size is too large" and not b["flagged"]
    with pytest.raises(md.ModerationError, match="line 1: expected an object with a review_id"):
        md.rows_from_replies(['{"id": 1}'], md.Settings())
    with pytest.raises(md.ModerationError, match="has no ResultList"):
        md.rows_from_replies(['{"review_id": "x", "DetectToxicContent": {}}'], md.Settings())
