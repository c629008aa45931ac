"""The baseline's Lambda function: prepare Comprehend's input, then evaluate the run (standard library + boto3).

Two actions, chosen by the event's ``action``:

* ``prepare`` (``{"action": "prepare", "run_id": ...}``): reads ``curated/<run_id>/validation/`` of the curated
  bucket, writes the deterministic sample as one document per line (each within 5,120 bytes) and its manifest under
  ``baseline/<run_id>/`` of the artifacts bucket; returns the URIs and counts.
* ``evaluate`` (``{"action": "evaluate", "run_id", "glue_job_run_id", "training_job", "baseline"}``): reads the
  training job's validation predictions, the manifest and Comprehend's output archive, prices what the run used
  and writes ``models/<run_id>/evaluation.json``; returns ``{"report_uri", "summary"}`` for the notification.

The function's configuration comes from its environment: ``CURATED_BUCKET``, ``ARTIFACTS_BUCKET``,
``GLUE_JOB_NAME``, ``SAMPLE_SIZE``, ``PRICES`` and ``ENDPOINT`` (JSON, from cdk.json at synth). The shared modules
(``comprehend_baseline``, ``run_cost``, ``evaluation_report``, ``pipeline_contracts``) are copied beside this file
when the asset is built.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from datetime import datetime

import boto3
import comprehend_baseline as cb
import evaluation_report as er
import run_cost
from botocore.exceptions import ClientError
from pipeline_contracts import (
    BASELINE_INPUT_FILE,
    VALIDATION,
    VALIDATION_PREDICTIONS,
    baseline_input_key,
    baseline_manifest_key,
    baseline_output_key,
    curated_split_key,
    evaluation_report_key,
)

s3 = boto3.client("s3")


def _env_json(name: str) -> dict:
    return json.loads(os.environ.get(name) or "{}")


def _split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise cb.BaselineError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def _read(bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _validation_records(bucket: str, run_id: str) -> list[dict]:
    prefix = curated_split_key(run_id, VALIDATION).rstrip("/") + "/"
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            name = obj["Key"].rsplit("/", 1)[-1]
            if name.startswith(("_", ".")) or obj["Size"] == 0:
                continue
            records.extend(cb.read_json_lines(_read(bucket, obj["Key"]), obj["Key"]))
    if not records:
        raise cb.BaselineError(f"no validation reviews under s3://{bucket}/{prefix}")
    return records


def prepare(event: dict) -> dict:
    run_id = event["run_id"]
    curated, artifacts = os.environ["CURATED_BUCKET"], os.environ["ARTIFACTS_BUCKET"]
    prepared = cb.prepare_input(_validation_records(curated, run_id), int(os.environ.get("SAMPLE_SIZE", "500")))
    s3.put_object(Bucket=artifacts, Key=baseline_input_key(run_id), Body=prepared.text.encode("utf-8"))
    s3.put_object(Bucket=artifacts, Key=baseline_manifest_key(run_id), Body=prepared.manifest_text().encode("utf-8"))
    return {
        **prepared.stats(),
        "input_uri": f"s3://{artifacts}/{baseline_input_key(run_id)}",
        "output_uri": f"s3://{artifacts}/{baseline_output_key(run_id)}",
    }


# --- evaluate -----------------------------------------------------------------------------------------------------


def _seconds(value) -> float | None:
    """A timestamp of a Step Functions aws-sdk answer (ISO-8601 text or epoch seconds) in epoch seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return None


def _custom_predictions(training_job: dict) -> tuple[dict | None, str]:
    """The validation predictions from the job's ``output/output.tar.gz`` (beside ``model.tar.gz``)."""
    model_uri = (training_job.get("ModelArtifacts") or {}).get("S3ModelArtifacts", "")
    if not model_uri.endswith("/model.tar.gz"):
        return None, f"no model artifact to find the training output beside: {model_uri!r}"
    bucket, key = _split_uri(model_uri[: -len("model.tar.gz")] + "output.tar.gz")
    try:
        with tarfile.open(fileobj=io.BytesIO(_read(bucket, key)), mode="r:gz") as archive:
            member = next((m for m in archive.getmembers() if m.name.rsplit("/", 1)[-1] == VALIDATION_PREDICTIONS), None)
            if member is None:
                return None, f"s3://{bucket}/{key} holds no {VALIDATION_PREDICTIONS}"
            return json.loads(archive.extractfile(member).read()), ""
    except (ClientError, tarfile.TarError, ValueError) as error:
        return None, f"cannot read s3://{bucket}/{key}: {error}"


def _glue_dpu_seconds(job_run_id: str | None, prices: dict) -> tuple[float | None, str]:
    if not job_run_id:
        return None, "no Glue job run id"
    try:
        run = boto3.client("glue").get_job_run(JobName=os.environ["GLUE_JOB_NAME"], RunId=job_run_id)["JobRun"]
    except ClientError as error:
        return None, f"Glue GetJobRun failed: {error}"
    return run_cost.glue_dpu_seconds(run, prices.get("glue_minimum_seconds", 60)), ""


def _output_archive(uri: str) -> tuple[str, str]:
    """Where the archive is: DescribeSentimentDetectionJob names ``.../output/output.tar.gz``; given only the
    output prefix, the one ``*/output/output.tar.gz`` under it."""
    bucket, key = _split_uri(uri)
    if key.endswith(".tar.gz"):
        return bucket, key
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key.rstrip("/") + "/")
    found = [o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith("/output/output.tar.gz")]
    if len(found) != 1:
        raise cb.BaselineError(f"expected one output/output.tar.gz under {uri}, found {len(found)}")
    return bucket, found[0]


def _comprehend(baseline: dict, run_id: str, prices: dict) -> tuple[dict, list | None]:
    status = baseline.get("status", er.UNAVAILABLE)
    if status != "COMPLETED":
        reason = baseline.get("reason") or f"job status {status}"
        kind = er.DISABLED if status == er.DISABLED else er.UNAVAILABLE
        return er.comprehend_section(kind, reason, None, None, None, prices), None
    artifacts = os.environ["ARTIFACTS_BUCKET"]
    manifest = cb.read_manifest(_read(artifacts, baseline_manifest_key(run_id)).decode("utf-8"))
    job = baseline.get("job") or {}
    try:
        parsed = cb.parse_output_archive(_read(*_output_archive(job["OutputDataConfig"]["S3Uri"])))
    except (KeyError, cb.BaselineError, ClientError) as error:
        return er.comprehend_section(er.UNAVAILABLE, f"output archive unreadable: {error}", None, None, None,
                                     prices), manifest
    started, ended = _seconds(job.get("SubmitTime")), _seconds(job.get("EndTime"))
    seconds = ended - started if started is not None and ended is not None else None
    return er.comprehend_section(er.AVAILABLE, "", manifest, parsed, seconds, prices, BASELINE_INPUT_FILE), manifest


def evaluate(event: dict) -> dict:
    run_id, prices, endpoint = event["run_id"], _env_json("PRICES"), _env_json("ENDPOINT")
    training_job = event.get("training_job") or {}
    comprehend, manifest = _comprehend(event.get("baseline") or {}, run_id, prices)
    predictions, reason = _custom_predictions(training_job)
    custom = er.custom_model_section(predictions, manifest if comprehend["status"] == er.AVAILABLE else None,
                                     endpoint, prices, reason)
    units = comprehend.get("billing_units") if comprehend["status"] == er.AVAILABLE else None
    dpu_seconds, glue_note = _glue_dpu_seconds(event.get("glue_job_run_id"), prices)
    cost = run_cost.run_cost(glue_dpu_seconds=dpu_seconds, training=run_cost.training_usage(training_job),
                             comprehend_units=units, prices=prices)
    if glue_note:
        cost["not_measured"] = [f"Glue cleaning job: {glue_note}"]
    report = er.build_report(run_id=run_id, custom=custom, comprehend=comprehend, cost=cost,
                             idle=run_cost.idle_per_month(endpoint, prices))
    artifacts = os.environ["ARTIFACTS_BUCKET"]
    key = evaluation_report_key(run_id)
    s3.put_object(Bucket=artifacts, Key=key, Body=(json.dumps(report, indent=2) + "\n").encode("utf-8"),
                  ContentType="application/json")
    return {"report_uri": f"s3://{artifacts}/{key}", "summary": "\n".join(er.summary_lines(report))}


ACTIONS = {"prepare": prepare, "evaluate": evaluate}


def handler(event, context):
    action = event.get("action")
    if action not in ACTIONS:
        raise cb.BaselineError(f"unknown action {action!r}; expected one of {sorted(ACTIONS)}")
    return ACTIONS[action](event)
