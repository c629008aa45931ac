"""The inference handlers behind the image's real serving stack: sagemaker-containers ``server.start``, gunicorn
with gevent workers, Flask, on a ``model.tar.gz`` the container tier's training job produced."""

from __future__ import annotations

import json
import tarfile
from dataclasses import replace

import pytest

from ds_on_aws.sagemaker_jobs import CodeDeliveryError, check_model_spec, endpoint_model_spec
from tests.container import harness

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory, model_tarball):
    spec = endpoint_model_spec("instance")
    started = harness.start_server(tmp_path_factory.mktemp("endpoint") / "ml", model_tarball, spec)
    try:
        if harness.wait_for_ping(started, deadline_s=90) is None:
            pytest.fail(f"/ping never answered 200:\n{started.log()[-4000:]}")
        yield started
    finally:
        started.stop()


def call(server, body, headers=None):
    status, payload, content_type = harness.request(server, "/invocations", body, headers)
    assert status != 500, payload[:500]
    return status, json.loads(payload), content_type


def test_model_tarball_carries_the_inference_code(model_tarball):
    with tarfile.open(model_tarball) as tar:
        names = set(tar.getnames())
    assert {"model.joblib", "metrics.json", "code/inference.py", "code/review_text.py"} <= names


def test_ping_answers_200(server):
    status, _, _ = harness.request(server, "/ping", timeout=2)
    assert status == 200


def test_json_request(server):
    status, payload, content_type = call(server, b'{"instances": ["superb and touching", "awful waste"]}', JSON)
    assert status == 200 and content_type.startswith("application/json")
    assert [p["label"] for p in payload["predictions"]] == ["positive", "negative"]
    assert all(0.5 <= p["score"] <= 1 for p in payload["predictions"])


def test_csv_request(server):
    body = b'"a masterpiece, loved it"\nboring and dull\n'
    status, payload, _ = call(server, body, {"Content-Type": "text/csv", "Accept": "application/json"})
    assert status == 200
    assert [p["label"] for p in payload["predictions"]] == ["positive", "negative"]



def test_batch_transform_multi_record_request(server):
    """What Batch Transform sends with SplitType=Line, MultiRecord and InputFilter "$.text": one answer line each."""
    records = [b'"superb and touching"', b'"  "', b'"awful waste"']
    headers = {"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"}
    status, payload, content_type = harness.request(server, "/invocations", b"\n".join(records) + b"\n", headers)
    assert status == 200 and content_type.startswith("application/jsonlines"), payload[:500]
    lines = [json.loads(line) for line in payload.decode("utf-8").split("\n")]
    assert [line.get("label") for line in lines] == ["positive", None, "negative"]
    assert "instance 1 is empty" in lines[1]["error"]

def test_missing_content_type_counts_as_json(server):
    status, payload, _ = call(server, b'["great film"]', {"Content-Type": ""})
    assert status == 200 and len(payload["predictions"]) == 1


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b"great", {"Content-Type": "application/xml"}, 415, "unsupported content type 'application/xml'"),
        (b"great", {"Content-Type": "text/plain; charset=klingon"}, 415, "unsupported charset 'klingon'"),
        (b"{not json", JSON, 400, "malformed JSON"),
        (b'["great", 5]', JSON, 400, "instance 1 must be a string, got int"),
        (b'["caf\xe9"]', {"Content-Type": "application/json; charset=utf-8"}, 400, "not valid utf-8"),
        (json.dumps(["great"] * 1001).encode(), JSON, 413, "too many texts: 1001 > 1000"),
        (b'["great"]', {**JSON, "Accept": "text/html"}, 406, "unsupported accept 'text/html'"),
    ],
    ids=["415-type", "415-charset", "400-json", "400-type", "400-utf8", "413-count", "406-accept"],
)
def test_client_errors_answer_as_the_handlers_do(server, body, headers, status, message):
    got, payload, content_type = call(server, body, headers)
    assert got == status, payload
    assert content_type.startswith("application/json")
    assert set(payload) == {"error"} and message in payload["error"]


def test_model_loads_are_logged_by_the_workers(server):
    """inference.model_fn logs each load with its process id (what the cold-start benchmark counts)."""
    for _ in range(6):
        call(server, b'["great film"]', JSON)
    loads = [line for line in server.log().splitlines() if "model_fn: loading" in line]
    assert loads, server.log()[-3000:]


def test_isolated_model_with_s3_submit_directory_never_answers_ping(tmp_path, model_tarball):
    spec = endpoint_model_spec("instance")
    spec = replace(spec, environment={**spec.environment, "SAGEMAKER_SUBMIT_DIRECTORY": "s3://ds-on-aws/code.tar.gz"})
    with pytest.raises(CodeDeliveryError, match="never answers /ping"):
        check_model_spec(spec)  # the builder refuses it ...
    server = harness.start_server(tmp_path / "ml", model_tarball, spec)  # ... because the stack cannot start
    try:
        assert harness.wait_for_ping(server, deadline_s=60) is None
        server.process.wait(30)
        assert server.process.returncode != 0
        log = server.log()
        assert "NoCredentialsError" in log
        assert "Starting gunicorn" not in log
    finally:
        server.stop()
