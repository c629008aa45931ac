"""The local endpoint as a process: READY line, real HTTP, clean stop, one clear line when the port is taken."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from ds_on_aws.local.endpoint import (
    SMOKE_NEGATIVE,
    SMOKE_POSITIVE,
    http_request,
    predict,
    smoke_test,
    start_endpoint,
)
from ds_on_aws.local.errors import EndpointError
from tests.local.fakes import make_code_dir


@pytest.fixture()
def dirs(tmp_path):
    code = make_code_dir(tmp_path / "code")
    model = tmp_path / "model"
    model.mkdir()
    return code, model


@pytest.fixture()
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def test_endpoint_process_serves_over_http_and_stops_cleanly(dirs, tmp_path):
    code, model = dirs
    endpoint = start_endpoint(code, model, log_file=tmp_path / "endpoint.log")
    try:
        assert endpoint.url.startswith("http://127.0.0.1:")
        assert not (model / "loads.txt").exists()  # lazy: nothing loaded before the first request
        result = smoke_test(endpoint.url)
        assert result.passed, result.checks
        assert (model / "loads.txt").read_text() == "1"
        assert [p["label"] for p in predict(endpoint.url, [SMOKE_POSITIVE, SMOKE_NEGATIVE])] == ["positive", "negative"]
        answer = http_request(f"{endpoint.url}/invocations", b"client-error", {"Content-Type": "text/csv"})
        assert answer.status == 400 and answer.json()["error"]
    finally:
        endpoint.stop()
    assert endpoint.process.returncode == 0  # SIGTERM -> orderly shutdown
    with pytest.raises(EndpointError, match="cannot reach"):
        predict(endpoint.url, ["x"])


def test_smoke_test_fails_when_bad_input_is_not_a_client_error(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "inference.py").write_text(
        "import json\n"
        "def model_fn(d): return None\n"
        "def input_fn(b, c): return json.loads(b)['instances']\n"
        "def predict_fn(d, m): return d\n"
        "def output_fn(p, a): return json.dumps({'predictions': [{'label': 'positive', 'score': 1.0} for _ in p]}), a\n")
    model = tmp_path / "model"
    model.mkdir()
    with start_endpoint(code, model) as endpoint:
        result = smoke_test(endpoint.url)
    assert not result.passed
    failed = {c["name"] for c in result.checks if not c["passed"]}
    assert failed == {"predict", "bad request"}  # wrong label for the negative review; 500 for malformed JSON


def test_port_in_use_is_one_clear_line(dirs, busy_port):
    code, model = dirs
    with pytest.raises(EndpointError) as info:
        start_endpoint(code, model, port=busy_port)
    message = str(info.value)
    assert f"port {busy_port} on 127.0.0.1 is already in use" in message
    assert "\n" not in message


def test_cli_serve_on_a_busy_port_exits_5_with_one_line(dirs, busy_port):
    code, model = dirs
    (model / "model.joblib").write_bytes(b"weights")
    result = subprocess.run([sys.executable, "-m", "ds_on_aws.cli", "serve", "--model", str(model),
                             "--code", str(code), "--port", str(busy_port)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 5
    assert result.stderr.strip().splitlines() == [
        f"error: port {busy_port} on 127.0.0.1 is already in use: choose another one with --port, "
        f"or stop the program listening there"]


def test_cli_predict_prints_labels_and_scores(dirs, capsys):
    from ds_on_aws.cli import main

    code, model = dirs
    with start_endpoint(code, model) as endpoint:
        assert main(["predict", "--url", endpoint.url, "a good film", "a bad film"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["positive", "0.9000"]
    assert lines[1].split()[0] == "negative"


def test_cli_predict_against_nothing_exits_5(busy_port, capsys):
    from ds_on_aws.cli import main

    # A listening socket that never answers HTTP would hang; a closed port refuses at once.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    assert main(["predict", "--url", f"http://127.0.0.1:{closed}", "text"]) == 5
    assert "cannot reach the endpoint" in capsys.readouterr().err


def test_cli_serve_serves_a_model_tarball(dirs, tmp_path):
    """``serve --model model.tar.gz`` extracts it like the container and answers on the chosen port."""
    from ds_on_aws.local.training_job import package_model

    code, model = dirs
    (model / "model.joblib").write_bytes(b"weights")
    tarball = package_model(model, tmp_path / "model.tar.gz")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "ds_on_aws.cli", "serve", "--model", str(tarball),
                                "--code", str(code), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = process.stdout.readline()
        assert f"127.0.0.1:{port}" in banner
        answer = http_request(f"http://127.0.0.1:{port}/invocations", json.dumps({"instances": ["good"]}).encode())
        assert answer.status == 200 and answer.json()["predictions"][0]["label"] == "positive"
    finally:
        process.terminate()
        process.wait(timeout=20)
