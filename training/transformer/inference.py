"""Inference handlers of the transformer recipe: the linear model's request and response contract, a PyTorch model.

Served by the Hugging Face PyTorch inference image (its toolkit imports ``code/inference.py`` from the model
archive and calls ``model_fn(model_dir, context)``, ``input_fn(body, content_type, context)``,
``predict_fn(data, model, context)``, ``output_fn(prediction, accept, context)``; it passes ``context`` to a handler
that declares it). The offline endpoint and the tests call the same handlers without a context, as the
scikit-learn image's worker does.

Request and response: exactly those of the linear recipe's handlers (docs/architecture.md, "Inference"), proven by
one set of contract tests run against both (tests/training/test_inference.py): ``application/json``
``{"instances": [...]}`` (or a bare list or string), ``text/csv`` (one review per row), ``text/plain`` (one per
line) -> ``{"predictions": [{"label", "score", "positive_probability"}, ...]}``; client errors 400, 406, 413, 415
with ``{"error": "<message>"}``, never a 500. The request parsing below is the linear handlers' own, kept free of
Flask (the Hugging Face image has none).

Client errors on each serving stack: ``input_fn`` returns a :class:`RequestRejection` value, ``predict_fn`` passes
it through, and ``output_fn`` renders it. With the Hugging Face toolkit's context, ``output_fn`` sets the status on
the model server's response (``context.set_response_status``) and returns the JSON body; without a context it
returns a werkzeug response with the status (the scikit-learn-style worker passes response objects through).

Model: ``config.json`` + ``model.safetensors`` + the tokenizer saved by ``train.py``, loaded once per process and
model folder; texts are truncated to the length the model was fine-tuned with (``tokenizer.model_max_length``) and
scored in batches of ``SENTIMENT_PREDICT_BATCH`` (default 32) without gradients, on the GPU when there is one.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from review_text import LABEL_NAMES, normalize_text

JSON = "application/json"
CSV = "text/csv"
PLAIN = "text/plain"
SUPPORTED_CONTENT_TYPES = (JSON, CSV, PLAIN)
MODEL_CONFIG = "config.json"


def _env_limit(name: str, default: int) -> int:
    """A positive integer from the environment; a bad value falls back to the default (never kills the worker)."""
    raw = os.environ.get(name)
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return value if value > 0 else default


# The same limits, names and defaults as the linear recipe's handlers.
MAX_BODY_BYTES = _env_limit("SENTIMENT_MAX_BODY_BYTES", 6 * 1024 * 1024)
MAX_INSTANCES = _env_limit("SENTIMENT_MAX_INSTANCES", 1000)
MAX_TEXT_CHARS = _env_limit("SENTIMENT_MAX_TEXT_CHARS", 50_000)
PREDICT_BATCH = _env_limit("SENTIMENT_PREDICT_BATCH", 32)


@dataclass(frozen=True)
class RequestRejection:
    """A client error travelling from ``input_fn`` to ``output_fn`` as a value (see the module docstring)."""

    status: int
    message: str

    def body(self) -> str:
        return json.dumps({"error": self.message})


def _reject(status: int, message: str) -> RequestRejection:
    return RequestRejection(status=status, message=message)


# --- model ------------------------------------------------------------------------------------------------
_MODELS: dict[str, object] = {}
_MODELS_LOCK = threading.Lock()


class SentimentTransformer:
    """A fine-tuned sequence classifier and its tokenizer; ``positive_probability(texts)`` like the linear scorer."""

    def __init__(self, model_dir: Path):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self._torch = torch
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForSequenceClassification.from_pretrained(model_dir).to(self.device).eval()
        label2id = {name.lower(): index for name, index in self.model.config.label2id.items()}
        if "positive" not in label2id:
            raise ValueError(f"{model_dir / MODEL_CONFIG} names no 'positive' label (labels: {sorted(label2id)})")
        self.positive_index = label2id["positive"]

    def positive_probability(self, texts: list[str]):
        import numpy as np

        torch = self._torch
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), PREDICT_BATCH):
                batch = self.tokenizer(texts[start:start + PREDICT_BATCH], truncation=True, padding=True,
                                       return_tensors="pt").to(self.device)
                logits = self.model(**batch).logits.float()
                out.append(torch.softmax(logits, dim=-1)[:, self.positive_index].cpu().numpy())
        return np.concatenate(out).astype(np.float64)


def model_fn(model_dir: str, context=None):
    """The model of ``model_dir``, loaded once per process; a failed load is not remembered (the next call retries)."""
    key = os.path.abspath(model_dir)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            path = Path(model_dir)
            if not (path / MODEL_CONFIG).is_file():
                present = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
                raise FileNotFoundError(f"model file {path / MODEL_CONFIG} not found (model folder holds: {present})")
            logging.getLogger(__name__).info("model_fn: loading %s in process %d", path, os.getpid())
            model = SentimentTransformer(path)
            _MODELS[key] = model
    return model


# --- input (the linear recipe's parsing, unchanged) -------------------------------------------------------
def _parse_content_type(content_type: str | None) -> tuple[str, dict[str, str]]:
    """(media type lower-cased, parameters); a missing header means JSON, as in the container's worker."""
    if not content_type or not content_type.strip():
        return JSON, {}
    media, *raw_params = content_type.split(";")
    params = {}
    for item in raw_params:
        key, _, value = item.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    return media.strip().lower(), params


def _decode_body(body, charset: str | None) -> str | RequestRejection:
    if isinstance(body, str):
        return body
    if not isinstance(body, (bytes, bytearray, memoryview)):
        return _reject(400, f"request body must be bytes or text, got {type(body).__name__}")
    encoding = charset or "utf-8"
    try:
        # Binary codecs (base64, zlib, rot13...) are registered too but are not character sets.
        if not getattr(codecs.lookup(encoding), "_is_text_encoding", True):
            raise LookupError(encoding)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return _reject(415, f"unsupported charset {encoding!r}; send UTF-8")
    try:
        return bytes(body).decode(encoding)
    except UnicodeDecodeError as error:
        return _reject(400, f"request body is not valid {encoding}: {error.reason} at byte {error.start}")
    except (UnicodeError, LookupError, ValueError) as error:  # exotic codecs (idna, utf-7 ...) fail differently
        return _reject(400, f"request body cannot be decoded as {encoding}: {error}")


def _texts_from_json(body: str) -> list | RequestRejection:
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as error:
        return _reject(400, f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}")
    except RecursionError:
        return _reject(400, "malformed JSON: nested too deeply")
    except ValueError as error:  # e.g. an integer literal beyond Python's 4,300-digit conversion limit
        return _reject(400, f"malformed JSON: {error}")
    if isinstance(payload, str):
        return [payload]
    if isinstance(payload, dict):
        if "instances" not in payload:
            return _reject(
                400, f'JSON object must have an "instances" list of review texts (keys: {sorted(payload)[:10]})'
            )
        payload = payload["instances"]
        if not isinstance(payload, list):
            return _reject(400, f'"instances" must be a list of review texts, got {type(payload).__name__}')
    if not isinstance(payload, list):
        return _reject(
            400, f'JSON body must be an object with "instances", a list or a string, got {type(payload).__name__}'
        )
    return payload


def _lines(body: str) -> list[str]:
    """Lines split on ``\\n`` only (``\\r\\n`` tolerated); trailing empty lines dropped."""
    lines = [line[:-1] if line.endswith("\r") else line for line in body.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _texts_from_csv(body: str) -> list | RequestRejection:
    texts = []
    try:
        for row in csv.reader(io.StringIO(body, newline=""), strict=True):
            if not row:  # a blank line: kept so the row numbers in later messages stay right
                texts.append("")
                continue
            if len(row) != 1:
                return _reject(
                    400,
                    f"CSV row {len(texts) + 1} has {len(row)} fields; send one review per row "
                    "(quote a review that contains commas)",
                )
            texts.append(row[0])
    except csv.Error as error:
        if "field larger than field limit" in str(error):
            return _reject(413, f"a CSV field is longer than the limit of {MAX_TEXT_CHARS} characters per text")
        return _reject(400, f"malformed CSV at row {len(texts) + 1}: {error}")
    while texts and not texts[-1].strip():
        texts.pop()
    return texts


def _validated_texts(items: list) -> list[str] | RequestRejection:
    """Type, count and length checks, then the shared normalization (``review_text.normalize_text``)."""
    if not items:
        return _reject(400, "no review texts in the request")
    if len(items) > MAX_INSTANCES:
        return _reject(413, f"too many texts: {len(items)} > {MAX_INSTANCES} per request")
    cleaned = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            return _reject(400, f"instance {index} must be a string, got {type(item).__name__}")
        if len(item) > MAX_TEXT_CHARS:
            return _reject(413, f"instance {index} is too long: {len(item)} > {MAX_TEXT_CHARS} characters")
        text = normalize_text(item)
        if not text:
            return _reject(400, f"instance {index} is empty (after removing markup and whitespace)")
        cleaned.append(text)
    return cleaned



def input_fn(request_body, request_content_type, context=None):
    """Texts ready for ``predict_fn``, or a :class:`RequestRejection`. Never raises on client input."""
    media, params = _parse_content_type(request_content_type)
    if media not in SUPPORTED_CONTENT_TYPES:
        return _reject(415, f"unsupported content type {media!r}; use one of {', '.join(SUPPORTED_CONTENT_TYPES)}")
    size = len(request_body) if isinstance(request_body, (str, bytes, bytearray, memoryview)) else 0
    if size > MAX_BODY_BYTES:
        return _reject(413, f"request body too large: {size} > {MAX_BODY_BYTES} bytes")
    body = _decode_body(request_body, params.get("charset"))
    if isinstance(body, RequestRejection):
        return body
    if "\x00" in body and media != JSON:
        return _reject(400, "request body contains NUL characters")
    if media == JSON:
        items = _texts_from_json(body)
    elif media == CSV:
        items = _texts_from_csv(body)
    else:
        items = _lines(body)
    if isinstance(items, RequestRejection):
        return items
    return _validated_texts(items)


# --- prediction and output --------------------------------------------------------------------------------
def predict_fn(input_data, model, context=None):
    """One prediction per text, in order; a rejection passes through untouched."""
    if isinstance(input_data, RequestRejection):
        return input_data
    predictions = []
    for p in model.positive_probability(input_data).tolist():
        label = 1 if p >= 0.5 else 0
        predictions.append(
            {
                "label": LABEL_NAMES[label],
                "score": round(p if label else 1.0 - p, 6),
                "positive_probability": round(p, 6),
            }
        )
    return predictions


def accepts_json(accept: str | None) -> bool:
    """True when the Accept header allows JSON (missing, ``*/*``, ``application/*``, ``application/json``)."""
    if not accept or not accept.strip():
        return True
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in ("", "*/*", "application/*", JSON):
            return True
    return False



def _respond(status: int, body: str, context):
    """The response on either serving stack (see the module docstring)."""
    if context is not None:
        if status != 200:
            context.set_response_status(status, "client error")
        return body
    if status == 200:
        return body, JSON
    from werkzeug.wrappers import Response  # the offline worker (Flask); the Hugging Face image takes the branch above

    return Response(body, status=status, mimetype=JSON)


def output_fn(prediction, accept, context=None):
    """200 with the predictions, or the 4xx of a rejection, or 406 for an accept that excludes JSON."""
    if isinstance(prediction, RequestRejection):
        return _respond(prediction.status, prediction.body(), context)
    if not accepts_json(accept):
        rejection = _reject(406, f"unsupported accept {accept!r}; responses are {JSON}")
        return _respond(rejection.status, rejection.body(), context)
    return _respond(200, json.dumps({"predictions": prediction}), context)
