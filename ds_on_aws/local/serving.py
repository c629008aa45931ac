"""The SageMaker scikit-learn serving stack, emulated: the user module, its handlers, and the Flask worker.

Read from the container's sources: ``sagemaker_sklearn_container/serving.py`` (``main`` imports
the user module named by ``SAGEMAKER_PROGRAM`` on the FIRST request a worker gets, ``/ping`` included, and builds a
``Transformer`` whose ``initialize`` calls ``model_fn(model_dir)``; a failure leaves the worker unloaded so every
later request retries and fails again) and sagemaker-containers' ``_transformer.py`` / ``_worker.py``:

- ``Request.content_type`` = header ``ContentType`` or ``Content-Type``, else ``application/json``;
- ``Request.accept`` = header ``Accept``; missing or ``*/*`` -> ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``
  (default ``application/json``);
- ``Request.content`` = the body as ``str`` only when the content type is exactly ``application/json`` or
  ``text/csv`` (the raw header, parameters included), else ``bytes``;
- ``transform``: ``input_fn(content, content_type)`` -> ``predict_fn(data, model)`` -> ``output_fn(prediction,
  accept)``; a tuple result becomes ``Response(body, mimetype=result[1])`` with status 200, anything else (a
  Response with its own status) is returned as is; every exception becomes Flask's HTTP 500 HTML page;
- ``GET /ping`` answers 200 with an empty body once the model is loaded.

InvokeEndpoint caps request bodies at 6 MiB: bigger requests get 413 here.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from pathlib import Path

JSON = "application/json"
CSV = "text/csv"
ANY = "*/*"
UTF8_TYPES = (JSON, CSV)
MAX_BODY_BYTES = 6 * 1024 * 1024
DEFAULT_PROGRAM = "inference.py"


class HandlerChain:
    """The user module's handlers wired like the container's ``Transformer`` (no HTTP involved).

    ``invoke`` is what one ``POST /invocations`` does between reading the request and writing the response;
    the benchmark calls it directly to measure the handlers without the server.
    """

    def __init__(self, code_dir: Path, model_dir: Path, program: str = DEFAULT_PROGRAM):
        self.code_dir = Path(code_dir)
        self.model_dir = Path(model_dir)
        self.module_name = program[:-3] if program.endswith(".py") else program
        self.model = None
        self.module = None

    def load(self) -> None:
        """Import the user module from the code folder and call ``model_fn`` (the container's ``initialize``)."""
        if str(self.code_dir) not in sys.path:
            sys.path.insert(0, str(self.code_dir))
        module = importlib.import_module(self.module_name)
        transform_fn = getattr(module, "transform_fn", None)
        if transform_fn and any(hasattr(module, f) for f in ("input_fn", "predict_fn", "output_fn")):
            raise RuntimeError("Cannot use transform_fn implementation with input_fn, predict_fn, and/or output_fn")
        model_fn = getattr(module, "model_fn", None)
        if model_fn is None:
            raise NotImplementedError("Please provide a model_fn implementation.")
        self.model = model_fn(str(self.model_dir))
        self.module = module

    def invoke(self, content, content_type: str, accept: str):
        """Run the handlers; returns the tuple or response object the user code produced."""
        module = self.module
        transform_fn = getattr(module, "transform_fn", None)
        if transform_fn is not None:
            return transform_fn(self.model, content, content_type, accept)
        input_fn = getattr(module, "input_fn", None)
        predict_fn = getattr(module, "predict_fn", None)
        output_fn = getattr(module, "output_fn", None)
        if input_fn is None or predict_fn is None or output_fn is None:
            raise NotImplementedError("the user module must define input_fn, predict_fn and output_fn for text input")
        data = input_fn(content, content_type)
        prediction = predict_fn(data, self.model)
        return output_fn(prediction, accept)


def request_content_type(headers) -> str:
    return headers.get("ContentType") or headers.get("Content-Type") or JSON


def request_accept(headers, default_accept: str = JSON) -> str:
    accept = headers.get("Accept")
    return default_accept if not accept or accept == ANY else accept


def decode_body(body: bytes, content_type: str):
    """``str`` for exactly ``application/json`` / ``text/csv`` (werkzeug's utf-8 with replacement), else bytes."""
    return body.decode("utf-8", "replace") if content_type in UTF8_TYPES else body


def create_app(code_dir: Path, model_dir: Path, program: str | None = None):
    """The Flask worker of one container: lazy model load, ``/ping`` and ``/invocations``."""
    import flask

    program = program or os.environ.get("SAGEMAKER_PROGRAM") or DEFAULT_PROGRAM
    default_accept = os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or JSON
    app = flask.Flask("ds_on_aws_local_endpoint")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    state: dict = {"chain": None}
    lock = threading.Lock()

    def chain() -> HandlerChain:
        # Like serving.main(): the first request of a worker imports the user module and loads the model;
        # if that raises, nothing is kept, so the next request tries again (and /ping keeps failing).
        with lock:
            if state["chain"] is None:
                candidate = HandlerChain(code_dir, model_dir, program)
                candidate.load()
                state["chain"] = candidate
            return state["chain"]

    @app.route("/ping", methods=["GET"])
    def ping():
        chain()
        return flask.Response(status=200)

    @app.route("/invocations", methods=["POST"])
    def invocations():
        handlers = chain()
        request = flask.request
        content_type = request_content_type(request.headers)
        accept = request_accept(request.headers, default_accept)
        content = decode_body(request.get_data(), content_type)
        result = handlers.invoke(content, content_type, accept)
        if isinstance(result, tuple):
            return flask.Response(response=result[0], status=200, mimetype=result[1])
        return result

    return app
