"""The serving emulation behaves like the SageMaker scikit-learn container's worker."""

from __future__ import annotations

import json
import uuid

import pytest

from ds_on_aws.local.serving import MAX_BODY_BYTES, create_app
from tests.local.fakes import make_code_dir


@pytest.fixture()
def served(tmp_path):
    """A Flask test client over a fake handler module with a unique name (no clash with training's inference)."""
    module = f"fake_handlers_{uuid.uuid4().hex[:8]}"
    code_dir = make_code_dir(tmp_path / "code", module)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    app = create_app(code_dir, model_dir, program=f"{module}.py")
    return app.test_client(), model_dir


def test_model_is_loaded_lazily_on_the_first_request_ping_included_and_only_once(served):
    client, model_dir = served
    assert not (model_dir / "loads.txt").exists()
    assert client.get("/ping").status_code == 200
    assert (model_dir / "loads.txt").read_text() == "1"
    client.post("/invocations", data="x", content_type="text/csv")
    assert (model_dir / "loads.txt").read_text() == "1"


def test_a_model_that_fails_to_load_makes_ping_fail_every_time(served):
    client, model_dir = served
    (model_dir / "broken").write_text("")
    for attempt in (1, 2):
        answer = client.get("/ping")
        assert answer.status_code == 500
        assert b"<html" in answer.data.lower() or b"<!doctype html" in answer.data.lower()
        assert (model_dir / "loads.txt").read_text() == str(attempt)  # retried, like serving.main()


@pytest.mark.parametrize(("content_type", "body_type"), [
    ("application/json", "str"),
    ("text/csv", "str"),
    ("text/plain", "bytes"),
    ("application/json; charset=utf-8", "bytes"),  # the exact header is compared, parameters included
])
def test_input_fn_gets_str_only_for_exactly_json_or_csv(served, content_type, body_type):
    client, _ = served
    answer = client.post("/invocations", data="hello", headers={"Content-Type": content_type})
    assert answer.status_code == 200
    assert answer.get_json(force=True)["body_type"] == body_type
    assert answer.get_json(force=True)["content_type"] == content_type


def test_missing_content_type_counts_as_json_and_missing_or_any_accept_becomes_json(served):
    client, _ = served
    for accept in (None, "*/*"):
        headers = {"Accept": accept} if accept else {}
        answer = client.post("/invocations", data=b"hello", headers=headers)
        payload = json.loads(answer.data)
        assert payload["content_type"] == "application/json"
        assert payload["body_type"] == "str"
        assert payload["accept"] == "application/json"
    answer = client.post("/invocations", data="hi", headers={"Accept": "text/csv", "Content-Type": "text/csv"})
    assert json.loads(answer.data)["accept"] == "text/csv"
    assert answer.mimetype == "text/csv"  # the tuple's second element becomes the mimetype


def test_response_objects_from_the_handlers_keep_their_status(served):
    client, _ = served
    answer = client.post("/invocations", data="client-error", content_type="text/csv")
    assert answer.status_code == 400
    assert answer.get_json() == {"error": "bad input named here"}


def test_an_exception_in_a_handler_is_an_html_500(served):
    client, _ = served
    answer = client.post("/invocations", data="boom", content_type="text/csv")
    assert answer.status_code == 500
    assert answer.mimetype == "text/html"


def test_bodies_over_six_mebibytes_are_refused_with_413(served):
    client, _ = served
    answer = client.post("/invocations", data=b"x" * (MAX_BODY_BYTES + 1), content_type="text/csv")
    assert answer.status_code == 413
    assert client.post("/invocations", data=b"x" * 1000, content_type="text/csv").status_code == 200


def test_only_the_hosting_routes_exist(served):
    client, _ = served
    assert client.get("/invocations").status_code == 405
    assert client.get("/predict").status_code == 404
