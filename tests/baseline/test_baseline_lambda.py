"""The baseline's Lambda function on moto's S3: prepare Comprehend's input, then evaluate a run end to end."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import tarfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from ds_on_aws.config import load_config
from tests.baseline.archives import archive, scored, size_exceeded

RUNTIME = Path(__file__).resolve().parents[2] / "stacks" / "constructs" / "baseline_runtime" / "index.py"
CURATED, ARTIFACTS, RUN = "curated-bucket", "artifacts-bucket", "run-1"
JOB = "ds-on-aws-0123456789abcdef0123456789abcdef"


class FakeGlue:
    """GetJobRun of a finished G.1X x 2 run (the JobRun shape of the Glue API reference)."""

    def get_job_run(self, JobName, RunId):  # noqa: N803 (boto3's parameter names)
        assert JobName == "ds-on-aws-clean-reviews" and RunId == "jr_1"
        return {"JobRun": {"Id": RunId, "JobName": JobName, "JobRunState": "SUCCEEDED", "ExecutionTime": 290,
                           "MaxCapacity": 2.0, "WorkerType": "G.1X", "NumberOfWorkers": 2}}


@pytest.fixture()
def runtime(monkeypatch):
    config = load_config()
    env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "CURATED_BUCKET": CURATED, "ARTIFACTS_BUCKET": ARTIFACTS, "GLUE_JOB_NAME": "ds-on-aws-clean-reviews",
           "SAMPLE_SIZE": "4", "PRICES": json.dumps(config.prices.as_dict()),
           "ENDPOINT": json.dumps({"mode": "serverless", "serverless_memory_mb": 3072})}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3")
        for bucket in (CURATED, ARTIFACTS):
            s3.create_bucket(Bucket=bucket)
        spec = importlib.util.spec_from_file_location("baseline_runtime_index", RUNTIME)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        real_client = module.boto3.client
        monkeypatch.setattr(module.boto3, "client", lambda name, **kw: FakeGlue() if name == "glue" else real_client(name, **kw))
        yield module, s3


def put_validation(s3, reviews: list[dict]) -> None:
    body = gzip.compress("".join(json.dumps(r) + "\n" for r in reviews).encode())
    s3.put_object(Bucket=CURATED, Key=f"curated/{RUN}/validation/part-00000.json.gz", Body=body)
    s3.put_object(Bucket=CURATED, Key=f"curated/{RUN}/validation/_SUCCESS", Body=b"")


def put_training_output(s3, predictions: list[dict]) -> dict:
    document = {"reviews": len(predictions), "predict_seconds": 0.01, "threshold": 0.5, "predictions": predictions}
    payload = json.dumps(document).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("validation_predictions.json")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    s3.put_object(Bucket=ARTIFACTS, Key=f"models/{RUN}/{JOB}/output/output.tar.gz", Body=buffer.getvalue())
    return {"TrainingJobName": JOB,
            "ModelArtifacts": {"S3ModelArtifacts": f"s3://{ARTIFACTS}/models/{RUN}/{JOB}/output/model.tar.gz"},
            "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            "EnableManagedSpotTraining": True, "TrainingTimeInSeconds": 540, "BillableTimeInSeconds": 162}


REVIEWS = [{"review_id": f"r{i}", "text": ("great " if i % 2 else "awful ") * (3 if i else 2000), "label": i % 2,
            "rating": None, "split": "validation"} for i in range(6)]


def test_prepare_writes_one_document_a_line_within_the_limit_and_a_manifest(runtime):
    module, s3 = runtime
    put_validation(s3, REVIEWS)
    answer = module.handler({"action": "prepare", "run_id": RUN}, None)
    assert answer["input_uri"] == f"s3://{ARTIFACTS}/baseline/{RUN}/input/documents.txt"
    assert answer["output_uri"] == f"s3://{ARTIFACTS}/baseline/{RUN}/output/"
    assert answer["documents"] == 4 and answer["available"] == 6
    lines = s3.get_object(Bucket=ARTIFACTS, Key=f"baseline/{RUN}/input/documents.txt")["Body"].read().decode()
    assert len(lines.splitlines()) == 4
    assert all(len(line.encode()) <= 5120 for line in lines.splitlines())
    manifest = s3.get_object(Bucket=ARTIFACTS, Key=f"baseline/{RUN}/manifest.jsonl")["Body"].read().decode()
    assert answer["shortened"] == sum(json.loads(line)["shortened"] for line in manifest.splitlines())


def test_prepare_fails_clearly_when_the_split_is_missing(runtime):
    module, _ = runtime
    with pytest.raises(module.cb.BaselineError, match=f"no validation reviews under s3://{CURATED}/curated/{RUN}/validation/"):
        module.handler({"action": "prepare", "run_id": RUN}, None)


def test_evaluate_compares_both_models_on_the_same_reviews_and_prices_the_run(runtime):
    module, s3 = runtime
    put_validation(s3, REVIEWS)
    module.handler({"action": "prepare", "run_id": RUN}, None)
    manifest = [json.loads(line) for line in
                s3.get_object(Bucket=ARTIFACTS, Key=f"baseline/{RUN}/manifest.jsonl")["Body"].read().decode().splitlines()]
    # Comprehend: right on line 0, wrong on line 1, MIXED (leaning to the truth) on line 2, an error on line 3.
    records = [scored(0, "POSITIVE" if manifest[0]["label"] else "NEGATIVE"),
               scored(1, "NEGATIVE" if manifest[1]["label"] else "POSITIVE"),
               scored(2, "MIXED", positive=0.6 if manifest[2]["label"] else 0.1,
                      negative=0.1 if manifest[2]["label"] else 0.6),
               size_exceeded(3)]
    out_key = f"baseline/{RUN}/output/123456789012-SENTIMENT-abc/output/output.tar.gz"
    s3.put_object(Bucket=ARTIFACTS, Key=out_key, Body=archive(records))
    # The custom model: right on every review of the sample but one.
    predictions = [{"review_id": r["review_id"], "label": r["label"],
                    "positive_probability": float(r["label"]) if r["review_id"] != manifest[0]["review_id"]
                    else 1.0 - r["label"]} for r in REVIEWS]
    training_job = put_training_output(s3, predictions)
    baseline = {"status": "COMPLETED", "job": {"JobStatus": "COMPLETED", "SubmitTime": "2026-12-01T10:00:00Z",
                                               "EndTime": "2026-12-01T10:06:40Z",
                                               "OutputDataConfig": {"S3Uri": f"s3://{ARTIFACTS}/{out_key}"}}}
    answer = module.handler({"action": "evaluate", "run_id": RUN, "glue_job_run_id": "jr_1",
                             "training_job": training_job, "baseline": baseline}, None)
    report = json.loads(s3.get_object(Bucket=ARTIFACTS, Key=f"models/{RUN}/evaluation.json")["Body"].read())
    assert answer["report_uri"] == f"s3://{ARTIFACTS}/models/{RUN}/evaluation.json"
    custom, comprehend = report["custom_model"], report["comprehend"]
    assert custom["metrics"]["reviews"] == 4 and custom["metrics"]["accuracy"] == pytest.approx(0.75)
    assert comprehend["scored"] == 3 and comprehend["metrics"]["accuracy"] == pytest.approx(2 / 3)
    assert comprehend["errors"] == {"DOCUMENT_SIZE_EXCEEDED": 1}
    assert comprehend["neutral_or_mixed_share"] == pytest.approx(1 / 3)
    assert comprehend["latency"]["job_seconds"] == 400
    items = {line["item"].split(" (")[0]: line for line in report["cost"]["items"]}
    assert items["Glue cleaning job"]["quantity"] == pytest.approx(290 * 2 / 3600, rel=1e-4)
    assert items["SageMaker training"]["quantity"] == pytest.approx(162 / 3600, rel=1e-4)
    assert "spot saving 70%" in next(i["item"] for i in report["cost"]["items"] if i["item"].startswith("SageMaker"))
    assert items["Comprehend sentiment"]["quantity"] == sum(entry["units"] for entry in manifest)
    assert "Custom model: accuracy 0.7500" in answer["summary"] and "NEUTRAL/MIXED share 33.3%" in answer["summary"]


def test_evaluate_reports_an_unavailable_baseline_with_its_reason_and_still_prices_the_run(runtime):
    module, s3 = runtime
    training_job = put_training_output(s3, [{"review_id": "a", "label": 1, "positive_probability": 0.9}])
    answer = module.handler({"action": "evaluate", "run_id": RUN, "glue_job_run_id": "jr_1", "training_job": training_job,
                             "baseline": {"status": "FAILED", "reason": "Comprehend job FAILED: access denied"}}, None)
    report = json.loads(s3.get_object(Bucket=ARTIFACTS, Key=f"models/{RUN}/evaluation.json")["Body"].read())
    assert report["comprehend"] == {**report["comprehend"], "status": "unavailable",
                                    "reason": "Comprehend job FAILED: access denied"}
    assert report["custom_model"]["reviews"] == "the whole validation split"
    assert [i["item"].split(" (")[0] for i in report["cost"]["items"]] == ["Glue cleaning job", "SageMaker training"]
    assert "Amazon Comprehend: unavailable (Comprehend job FAILED: access denied)" in answer["summary"]


def test_the_archive_is_found_under_the_output_prefix_when_only_the_prefix_is_given(runtime):
    module, s3 = runtime
    key = f"baseline/{RUN}/output/123456789012-SENTIMENT-abc/output/output.tar.gz"
    s3.put_object(Bucket=ARTIFACTS, Key=key, Body=b"x")
    assert module._output_archive(f"s3://{ARTIFACTS}/baseline/{RUN}/output/") == (ARTIFACTS, key)
    assert module._output_archive(f"s3://{ARTIFACTS}/{key}") == (ARTIFACTS, key)
    with pytest.raises(module.cb.BaselineError, match="found 0"):
        module._output_archive(f"s3://{ARTIFACTS}/baseline/other-run/output/")


def test_an_unknown_action_is_refused(runtime):
    module, _ = runtime
    with pytest.raises(module.cb.BaselineError, match="unknown action 'train'"):
        module.handler({"action": "train"}, None)
