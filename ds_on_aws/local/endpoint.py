"""Stage 5, the local endpoint: a threaded WSGI server for the emulated serving stack, its process, a client.

The endpoint runs in its own process (like the container: its own ``sys.path`` with the code folder first, its
own ``inference`` and ``review_text`` modules), started with ``python -m ds_on_aws.local.endpoint``. It binds
127.0.0.1 by default (a free port unless ``--port``), prints one ``READY <url>`` line when listening, and stops
cleanly on SIGTERM or Ctrl-C. A port already in use is one clear line and exit code 5.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ds_on_aws.local.errors import EXIT_ENDPOINT, EndpointError

READY_PREFIX = "READY "
DEFAULT_HOST = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 60.0
# The model loads lazily on the first request (ping included): allow for it, as SageMaker's retried pings do.
FIRST_PING_TIMEOUT_SECONDS = 120.0


def port_in_use_message(host: str, port: int) -> str:
    return (f"port {port} on {host} is already in use: choose another one with --port, "
            f"or stop the program listening there")


def ensure_port_free(host: str, port: int) -> None:
    """Bind and release the port first: werkzeug itself prints a multi-line notice and exits when it is taken."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug's server does
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise EndpointError(port_in_use_message(host, port)) from exc
            raise EndpointError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def make_server(code_dir: Path, model_dir: Path, host: str = DEFAULT_HOST, port: int = 0):
    """A threaded werkzeug server around the emulated worker; raises EndpointError when the port is taken."""
    from werkzeug.serving import make_server as werkzeug_make_server

    from ds_on_aws.local.serving import create_app

    app = create_app(code_dir, model_dir)
    if port:
        ensure_port_free(host, port)
    try:
        return werkzeug_make_server(host, port, app, threaded=True)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE or "in use" in str(exc).lower():
            raise EndpointError(port_in_use_message(host, port)) from exc
        raise EndpointError(f"cannot listen on {host}:{port}: {exc}") from exc
    except SystemExit as exc:  # werkzeug exits when the port is taken on some versions
        raise EndpointError(port_in_use_message(host, port)) from exc


def serve_forever(code_dir: Path, model_dir: Path, host: str = DEFAULT_HOST, port: int = 0,
                  announce=print) -> None:
    """Serve until SIGTERM/SIGINT; announce ``READY <url>`` once listening."""
    server = make_server(code_dir, model_dir, host, port)
    url = f"http://{host}:{server.server_port}"

    def stop(signum, frame):  # serve_forever must be stopped from another thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    announce(f"{READY_PREFIX}{url}")
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the endpoint process."""
    parser = argparse.ArgumentParser(prog="python -m ds_on_aws.local.endpoint")
    parser.add_argument("--code-dir", required=True, type=Path)
    parser.add_argument("--model-dir", required=True, type=Path)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("SAGEMAKER_PROGRAM", "inference.py")
    try:
        serve_forever(args.code_dir, args.model_dir, args.host, args.port,
                      announce=lambda line: print(line, flush=True))
    except EndpointError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_ENDPOINT
    return 0


@dataclass
class EndpointProcess:
    """A running endpoint process; ``stop()`` ends it (SIGTERM, then kill after a grace period)."""

    process: subprocess.Popen
    url: str

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> EndpointProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_endpoint(code_dir: Path, model_dir: Path, host: str = DEFAULT_HOST, port: int = 0,
                   log_file: Path | None = None, timeout: float = STARTUP_TIMEOUT_SECONDS) -> EndpointProcess:
    """Start the endpoint process and wait for its ``READY`` line; EndpointError with its message otherwise."""
    env = dict(os.environ)
    env.update({"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": str(code_dir),
                "PIP_NO_BUILD_ISOLATION": "false", "PYTHONUNBUFFERED": "1"})
    env.pop("PYTHONPATH", None)
    # The endpoint process must import this package, whatever the caller's sys.path held.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = package_root
    stderr_target = open(log_file, "w", encoding="utf-8") if log_file else subprocess.PIPE  # noqa: SIM115
    command = [sys.executable, "-m", "ds_on_aws.local.endpoint", "--code-dir", str(code_dir),
               "--model-dir", str(model_dir), "--host", host, "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr_target, text=True, env=env,
                               cwd=str(code_dir))
    if log_file:
        stderr_target.close()
    ready: list[str] = []

    def read_ready():
        assert process.stdout is not None
        line = process.stdout.readline()
        ready.append(line)

    reader = threading.Thread(target=read_ready, daemon=True)
    reader.start()
    reader.join(timeout)
    line = ready[0].strip() if ready else ""
    if line.startswith(READY_PREFIX):
        return EndpointProcess(process, line[len(READY_PREFIX):])
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    message = _last_error_line(process, log_file) or f"the endpoint did not start within {timeout:.0f} s"
    raise EndpointError(message)


def _last_error_line(process: subprocess.Popen, log_file: Path | None) -> str:
    text = ""
    if log_file and log_file.is_file():
        text = log_file.read_text(encoding="utf-8", errors="replace")
    elif process.stderr is not None:
        text = process.stderr.read()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error: "):
            return line[len("error: "):]
    return lines[-1] if lines else ""


# --- client --------------------------------------------------------------------------------------------------

@dataclass
class HttpAnswer:
    status: int
    content_type: str
    body: bytes

    def json(self):
        return json.loads(self.body.decode("utf-8"))


def http_request(url: str, data: bytes | None = None, headers: dict | None = None, timeout: float = 30.0,
                 method: str | None = None) -> HttpAnswer:
    """One HTTP request on loopback; non-2xx answers are returned, not raised."""
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (local endpoint URL)
            return HttpAnswer(response.status, response.headers.get("Content-Type", ""), response.read())
    except urllib.error.HTTPError as exc:
        return HttpAnswer(exc.code, exc.headers.get("Content-Type", ""), exc.read())


def wait_until_healthy(url: str, timeout: float = FIRST_PING_TIMEOUT_SECONDS) -> float:
    """Ping until 200 (the first ping loads the model); returns the seconds it took."""
    start = time.perf_counter()
    last = "no answer"
    while time.perf_counter() - start < timeout:
        try:
            answer = http_request(f"{url}/ping", timeout=timeout)
            if answer.status == 200:
                return time.perf_counter() - start
            last = f"HTTP {answer.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.5)
    raise EndpointError(f"the endpoint at {url} did not become healthy within {timeout:.0f} s (last /ping: {last})")


def predict(url: str, texts: list[str], timeout: float = 60.0) -> list[dict]:
    """POST texts as ``{"instances": [...]}``; returns the predictions or raises EndpointError with the message."""
    body = json.dumps({"instances": texts}).encode("utf-8")
    try:
        answer = http_request(f"{url.rstrip('/')}/invocations", body,
                              {"Content-Type": "application/json", "Accept": "application/json"}, timeout)
    except (urllib.error.URLError, OSError) as exc:
        raise EndpointError(f"cannot reach the endpoint at {url}: {getattr(exc, 'reason', exc)}") from exc
    if answer.status != 200:
        raise EndpointError(f"the endpoint answered HTTP {answer.status}: {_error_text(answer)}")
    predictions = answer.json().get("predictions")
    if not isinstance(predictions, list) or len(predictions) != len(texts):
        raise EndpointError(f"the endpoint answered {len(predictions or [])} predictions for {len(texts)} texts")
    return predictions


def _error_text(answer: HttpAnswer) -> str:
    try:
        return str(answer.json().get("error", answer.body[:200]))
    except (ValueError, AttributeError):
        return answer.body[:200].decode("utf-8", "replace")


# --- smoke test -----------------------------------------------------------------------------------------------

SMOKE_POSITIVE = "A wonderful, moving film with brilliant acting and a great story. I loved every minute of it."
SMOKE_NEGATIVE = "A dull, boring waste of time. The plot was stupid and the acting was awful. Terrible movie."


@dataclass
class SmokeResult:
    passed: bool
    checks: list[dict]
    first_ping_seconds: float

    def failures(self) -> list[str]:
        return [f"{c['name']}: {c['detail']}" for c in self.checks if not c["passed"]]


def smoke_test(url: str) -> SmokeResult:
    """What the state machine's smoke test asks, plus the client-error contract.

    1. ``/ping`` answers 200 (loads the model); 2. a positive and a negative review get one prediction each with
    a known label and a score in [0, 1], in request order, labelled as expected; 3. malformed JSON gets a 4xx
    with a JSON ``error`` message (the handlers answer client errors themselves).
    """
    checks: list[dict] = []
    first_ping = wait_until_healthy(url)
    checks.append({"name": "ping", "passed": True, "detail": f"200 after {first_ping:.1f} s (model loaded)"})
    try:
        predictions = predict(url, [SMOKE_POSITIVE, SMOKE_NEGATIVE])
        labels = [p.get("label") for p in predictions]
        scores_ok = all(isinstance(p.get("score"), (int, float)) and 0.0 <= p["score"] <= 1.0 for p in predictions)
        ok = labels == ["positive", "negative"] and scores_ok
        checks.append({"name": "predict", "passed": ok, "detail": json.dumps(predictions)})
    except EndpointError as exc:
        checks.append({"name": "predict", "passed": False, "detail": str(exc)})
    answer = http_request(f"{url}/invocations", b'{"instances": [', {"Content-Type": "application/json"})
    try:
        message = answer.json().get("error")
    except (ValueError, AttributeError):
        message = None
    checks.append({"name": "bad request", "passed": 400 <= answer.status < 500 and bool(message),
                   "detail": f"HTTP {answer.status}: {message or answer.body[:120]!r}"})
    return SmokeResult(all(c["passed"] for c in checks), checks, first_ping)


if __name__ == "__main__":
    sys.exit(main())
