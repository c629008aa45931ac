"""The scoring run's moderation function: ``common/moderation.py`` over ``scoring/<run_id>/input/`` (boto3 of the
Lambda runtime).

Event: ``{"run_id": "<execution name>"}``. Environment (from cdk.json at synth): ``CURATED_BUCKET``, ``RAW_BUCKET``,
``KMS_KEY_ARN``, ``MODERATION`` (the ``moderation`` section as JSON). For each input file it writes
``scoring/<run_id>/moderation/<file>.jsonl`` (SSE-KMS with the data key), one row per record, and returns the step's
result for the publish job: ``{"status": "COMPLETED", "reason", "enabled", "toxicity_threshold", "counts",
"output"}``. Per-record failures are in the rows; an exception here (no input, no credentials) fails the task, and
the state machine records the moderation as unavailable without failing the scoring run.
"""

from __future__ import annotations

import json
import os

import boto3
import moderation
from pipeline_contracts import scoring_input_key, scoring_moderation_key

MARGIN_SECONDS = 90  # stop starting requests this long before the function's time limit, to write what was done


def _input_keys(s3, bucket: str, run_id: str) -> list:
    prefix = scoring_input_key(run_id) + "/"
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])
                 if not item["Key"].rsplit("/", 1)[-1].startswith(("_", ".")) and not item["Key"].endswith(".crc")]
    if not keys:
        raise moderation.ModerationError(f"no records to moderate under s3://{bucket}/{prefix}")
    return sorted(keys)


def _records(s3, bucket: str, key: str) -> list:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def handler(event, context):
    run_id = event["run_id"]
    curated, raw, key_arn = os.environ["CURATED_BUCKET"], os.environ["RAW_BUCKET"], os.environ["KMS_KEY_ARN"]
    settings = moderation.Settings.from_mapping(json.loads(os.environ["MODERATION"]))
    s3 = boto3.client("s3")
    comprehend, rekognition = moderation.make_clients()
    deadline = moderation.Deadline(seconds=max(context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS, 0))
    used: dict = {}
    counts = {"records": 0, "flagged": 0, "errors": 0}
    for key in _input_keys(s3, curated, run_id):
        rows = moderation.moderate(_records(s3, curated, key), settings, comprehend=comprehend, rekognition=rekognition,
                                   raw_bucket=raw, deadline=deadline, used=used)
        parts: list = []
        moderation.write_rows(rows, parts.append)
        target = f"{scoring_moderation_key(run_id)}/{key.rsplit('/', 1)[-1]}{moderation.RESULT_SUFFIX}"
        s3.put_object(Bucket=curated, Key=target, Body="".join(parts).encode("utf-8"),
                      ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn, ContentType="application/jsonlines")
        counts["records"] += len(rows)
        counts["flagged"] += sum(row["flagged"] for row in rows)
        counts["errors"] += sum(row["moderation_error"] is not None for row in rows)
    return {"status": "COMPLETED", "reason": "", "enabled": settings.enabled,
            "toxicity_threshold": settings.toxicity_threshold, "counts": {**counts, **used},
            "output": f"s3://{curated}/{scoring_moderation_key(run_id)}/"}
