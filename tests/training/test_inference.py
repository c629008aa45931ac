"""Inference handlers: every request format, every client error, and a property test over arbitrary requests.

Requests go through :func:`sm_helpers.invoke`, which runs the handler chain the way the container's
serving stack does (a raised exception would become an HTTP 500 there, so none may escape).

One contract, two recipes: every request/response test runs against the linear model's handlers
(``training/inference.py``) and the transformer recipe's (``training/transformer/inference.py``, with the tiny
fine-tuned model of ``tests/transformer/fixtures.py``; skipped when torch is not installed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import inference
import joblib
import pytest
import serving_contract
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.training.sm_helpers import invoke

RECIPES = ("linear", "transformer")


@dataclass(frozen=True)
class Served:
    """A recipe's handler module and its loaded model."""

    handlers: object
    model: object


@pytest.fixture(params=RECIPES)
def served(request, small_model) -> Served:
    if request.param == "linear":
        return Served(inference, small_model)
    from tests.transformer.fixtures import load_handlers

    trained = request.getfixturevalue("trained_transformer")
    handlers = load_handlers(trained.model_dir / "code", "transformer_inference")
    return Served(handlers, handlers.model_fn(str(trained.model_dir)))


def call(served, body, content_type="application/json", accept="application/json"):
    if isinstance(body, str):
        body = body.encode("utf-8")
    response = invoke(served.handlers, served.model, body, content_type, accept)
    return response.status_code, json.loads(response.get_data(as_text=True)) if response.status_code != 500 else None


def labels(payload):
    return [p["label"] for p in payload["predictions"]]


# --- model_fn ---------------------------------------------------------------------------------------------
def test_model_fn_loads_a_saved_model(tmp_path, small_model):
    joblib.dump(small_model, tmp_path / "model.joblib", compress=3)
    loaded = inference.model_fn(str(tmp_path))
    status, payload = call(Served(inference, loaded), '{"instances": ["superb and touching", "awful waste"]}')
    assert status == 200 and labels(payload) == ["positive", "negative"]


def test_model_fn_names_a_missing_or_wrong_file(tmp_path):
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"model.joblib not found .*metrics.json"):
        inference.model_fn(str(tmp_path))
    joblib.dump({"not": "a model"}, tmp_path / "model.joblib")
    with pytest.raises(TypeError, match="not a classifier"):
        inference.model_fn(str(tmp_path))


# --- accepted requests ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"instances": ["superb and touching", "awful waste"]}', "application/json"),
        ('["superb and touching", "awful waste"]', "application/json"),
        ('["superb and touching", "awful waste"]', "application/json; charset=utf-8"),
        ('["superb and touching", "awful waste"]', None),  # missing Content-Type means JSON
        ("superb and touching\nawful waste\n", "text/plain"),
        ("superb and touching\r\nawful waste\r\n\r\n", "text/plain; charset=utf-8"),
        ("superb and touching\nawful waste", "text/csv"),
        ('"superb, and touching"\r\n"awful\nwaste"\r\n', "text/csv"),
    ],
)
def test_formats_answer_in_request_order(served, body, content_type):
    status, payload = call(served, body, content_type)
    assert status == 200
    assert labels(payload) == ["positive", "negative"]
    for prediction in payload["predictions"]:
        assert set(prediction) == {"label", "score", "positive_probability"}
        assert 0.5 <= prediction["score"] <= 1.0
        p = prediction["positive_probability"]
        assert prediction["score"] == pytest.approx(p if prediction["label"] == "positive" else 1 - p, abs=2e-6)


def test_bare_json_string_is_one_review(served):
    status, payload = call(served, '"a masterpiece, loved it"')
    assert status == 200 and labels(payload) == ["positive"]


def test_text_is_normalized_before_prediction(served):
    raw = "<i>superb</i><br /><br />and   touching\u0085"
    _, plain = call(served, json.dumps(["superb and touching\u2026"]))
    _, marked = call(served, json.dumps([raw]))
    assert plain == marked


def test_unicode_line_separators_stay_inside_a_review(served):
    # U+0085 occurs inside IMDb reviews; str.splitlines() would cut the review in two.
    status, payload = call(served, "superb\u0085 and touching\u2028film\n", "text/plain")
    assert status == 200 and len(payload["predictions"]) == 1


@pytest.mark.parametrize(
    "accept", [None, "*/*", "application/json", "application/*", "text/html, application/json;q=0.9"]
)
def test_accepts_that_allow_json(served, accept):
    assert call(served, '["great"]', accept=accept)[0] == 200


def test_limits_are_inclusive(served, monkeypatch):
    monkeypatch.setattr(serving_contract, "MAX_INSTANCES", 3)
    monkeypatch.setattr(serving_contract, "MAX_TEXT_CHARS", 10)
    status, payload = call(served, json.dumps(["great film", "awful", "dull"]))
    assert status == 200 and len(payload["predictions"]) == 3


# --- client errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status", "message"),
    [
        ("great", "application/xml", None, 415, "unsupported content type 'application/xml'"),
        ("great", "image/png", None, 415, "unsupported content type"),
        ("great", "text/plain; charset=klingon", None, 415, "unsupported charset 'klingon'"),
        ("great", "text/plain; charset=base64", None, 415, "unsupported charset 'base64'"),
        ("great", "text/csv; charset=zlib", None, 415, "unsupported charset 'zlib'"),
        ("great", "text/csv; charset=\x00", None, 415, "unsupported charset"),
        ("great", "text/plain; charset=idna", None, 200, None),
        ('["great"]', None, "text/html", 406, "unsupported accept 'text/html'"),
        ('["great"]', None, "application/xml", 406, "unsupported accept"),
        ("{not json", None, None, 400, "malformed JSON"),
        ("[" * 100_000 + "]" * 100_000, None, None, 400, "malformed JSON"),
        ("", None, None, 400, "malformed JSON"),
        ('["great", ' + "9" * 5000 + "]", None, None, 400, "malformed JSON: Exceeds the limit"),
        ("[]", None, None, 400, "no review texts"),
        ('{"instances": []}', None, None, 400, "no review texts"),
        ('{"inputs": ["x"]}', None, None, 400, 'must have an "instances" list'),
        ('{"instances": "great"}', None, None, 400, '"instances" must be a list'),
        ("42", None, None, 400, "got int"),
        ("null", None, None, 400, "got NoneType"),
        ('["great", 5]', None, None, 400, "instance 1 must be a string, got int"),
        ('["great", ["nested"]]', None, None, 400, "instance 1 must be a string, got list"),
        ('["great", NaN]', None, None, 400, "instance 1 must be a string, got float"),
        ('["great", "  <br />  "]', None, None, 400, "instance 1 is empty"),
        ("", "text/plain", None, 400, "no review texts"),
        ("great\n\nawful\n", "text/plain", None, 400, "instance 1 is empty"),
        ("\n\n", "text/csv", None, 400, "no review texts"),
        ("great,film\n", "text/csv", None, 400, "CSV row 1 has 2 fields"),
        ('"unterminated\n', "text/csv", None, 400, "malformed CSV"),
        ('"a"b\n', "text/csv", None, 400, "malformed CSV"),
        ("great\x00film", "text/plain", None, 400, "NUL characters"),
    ],
)
def test_client_errors_are_4xx_with_a_message(served, body, content_type, accept, status, message):
    got_status, payload = call(served, body, content_type, accept)
    assert got_status == status, payload
    if status != 200:
        assert set(payload) == {"error"} and message in payload["error"]


def test_invalid_utf8_is_400(served):
    response = invoke(served.handlers, served.model, b'["caf\xe9"]', "application/json; charset=utf-8", None)
    assert response.status_code == 400
    assert "not valid utf-8" in json.loads(response.get_data(as_text=True))["error"]


def test_too_many_texts_is_413(served, monkeypatch):
    monkeypatch.setattr(serving_contract, "MAX_INSTANCES", 3)
    status, payload = call(served, json.dumps(["great"] * 4))
    assert status == 413 and "too many texts: 4 > 3" in payload["error"]
    status, payload = call(served, "great\n" * 4, "text/plain")
    assert status == 413


def test_too_long_text_is_413(served, monkeypatch):
    monkeypatch.setattr(serving_contract, "MAX_TEXT_CHARS", 10)
    status, payload = call(served, json.dumps(["short", "x" * 11]))
    assert status == 413 and "instance 1 is too long: 11 > 10" in payload["error"]


def test_csv_field_beyond_the_csv_module_limit_is_413(served):
    status, payload = call(served, '"' + "x" * 200_000 + '"\n', "text/csv")
    assert status == 413 and "longer than the limit" in payload["error"]


def test_too_large_body_is_413_before_decoding(served, monkeypatch):
    monkeypatch.setattr(serving_contract, "MAX_BODY_BYTES", 100)
    status, payload = call(served, json.dumps(["great film"] * 20))
    assert status == 413 and "request body too large" in payload["error"]
    status, _ = call(served, b"\xff" * 101, "text/plain")  # not even valid UTF-8: size is checked first
    assert status == 413


def test_input_fn_never_raises_on_odd_python_values(served):
    assert served.handlers.input_fn(12345, "application/json").status == 400
    assert served.handlers.input_fn(None, "text/plain").status == 400


def test_limits_come_from_the_environment(served, monkeypatch):
    monkeypatch.setenv("SENTIMENT_MAX_INSTANCES", "7")
    assert serving_contract.env_limit("SENTIMENT_MAX_INSTANCES", 1000) == 7
    for bad in ("0", "-3", "many"):
        monkeypatch.setenv("SENTIMENT_MAX_INSTANCES", bad)
        assert serving_contract.env_limit("SENTIMENT_MAX_INSTANCES", 1000) == 1000


# --- property test ----------------------------------------------------------------------------------------
CONTENT_TYPES = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "application/json",
            "text/csv",
            "text/plain",
            "application/json; charset=utf-8",
            "text/plain; charset=latin-1",
            "text/csv; charset=utf-16",
            "application/x-npy",
            "application/jsonlines",
            "",
            " ; ",
            "text/plain; charset=",
        ]
    ),
    st.text(max_size=40),
    st.builds(
        lambda media, charset: f"{media}; charset={charset}",
        st.sampled_from(["application/json", "text/csv", "text/plain"]),
        st.text(max_size=12),
    ),
)
ACCEPTS = st.one_of(
    st.none(),
    st.sampled_from(
        ["*/*", "application/json", "text/csv", "application/jsonlines", "application/*, text/*;q=0.1"]
    ),
    st.text(max_size=30),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.sampled_from(["instances", "x"]), children, max_size=2)
    ),
    max_leaves=10,
)
BODIES = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda s: s.encode("utf-8")),
    JSON_VALUES.map(lambda v: json.dumps(v).encode("utf-8")),
    st.lists(st.text(max_size=60), max_size=8).map(lambda xs: json.dumps({"instances": xs}).encode("utf-8")),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES, content_type=CONTENT_TYPES, accept=ACCEPTS)
def test_any_request_gets_an_answer_or_a_client_error(served, body, content_type, accept):
    response = invoke(served.handlers, served.model, body, content_type, accept)
    assert response.status_code in (200, 400, 406, 413, 415), response.get_data(as_text=True)
    if response.status_code == 200 and serving_contract.line_accept(accept):
        # a multi-record answer: one line per record, each a prediction or that record's error
        assert response.mimetype == serving_contract.line_accept(accept)
        for line in response.get_data(as_text=True).split("\n"):
            assert line.strip()
        return
    assert response.mimetype == "application/json"
    payload = json.loads(response.get_data(as_text=True))
    if response.status_code == 200:
        assert set(payload) == {"predictions"} and payload["predictions"]
        for prediction in payload["predictions"]:
            assert prediction["label"] in ("positive", "negative")
            assert 0.5 <= prediction["score"] <= 1.0
    else:
        assert set(payload) == {"error"} and isinstance(payload["error"], str) and payload["error"]
