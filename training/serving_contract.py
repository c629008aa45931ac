"""The serving contract both recipes' inference handlers keep: request parsing, limits, answers (no web framework).

Request (docs/architecture.md, "Inference"):
- ``application/json``: ``{"instances": ["text", ...]}``, a bare JSON list of strings, or one JSON string;
- ``text/csv``: one review per row (RFC 4180 quoting honoured, so a quoted review may hold commas or newlines);
- ``text/plain``: one review per line (``\\n`` or ``\\r\\n``; U+0085 and friends are NOT line breaks: they
  occur inside IMDb reviews);
- ``application/jsonlines``: one record per line, a JSON string or an object with a ``"text"`` string (what Batch
  Transform sends with ``SplitType=Line`` and ``BatchStrategy=MultiRecord``, after ``InputFilter="$.text"``).

Response (``application/json``): ``{"predictions": [{"label": "positive", "score": 0.97,
"positive_probability": 0.97}, ...]}`` in request order; ``score`` is the probability of the returned label
(always >= 0.5), ``positive_probability`` the probability of ``positive``. Multi-record responses (Batch
Transform; chosen by an Accept that does not allow JSON): ``application/jsonlines`` gives one JSON object per input
record, in order (the prediction object, or ``{"error": "<message>"}`` for a record that cannot be scored);
``text/csv`` one row per record, ``label,score,positive_probability,error``. So one bad record costs one error
line, never the batch, and the output lines stay aligned with the input lines for ``JoinSource=Input``. Only a body
that cannot be split into records at all (wrong content type or charset, malformed CSV, too large) is refused as
a whole.

Client errors are values, never exceptions (a serving stack turns a raised exception into an HTTP 500):
:func:`parse_request` returns a :class:`RequestRejection`, :func:`predict` passes it through, :func:`render`
turns it into ``(status, body, media type)``; each recipe's ``output_fn`` hands that to its own serving stack.
Status codes: 400 malformed/empty/wrong types, 413 too many texts, too long a text or too large a body, 415
unsupported content type or charset, 406 unsupported accept.

Limits are module constants, overridable by environment variables in the model's environment. Standard library
plus ``review_text`` (the shared normalization): both recipes' ``code/`` carry this module.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass

from review_text import LABEL_NAMES, normalize_text

JSON = "application/json"
CSV = "text/csv"
PLAIN = "text/plain"
JSON_LINES = "application/jsonlines"
SUPPORTED_CONTENT_TYPES = (JSON, CSV, PLAIN, JSON_LINES)
LINE_ACCEPTS = (JSON_LINES, CSV)  # multi-record answers: one line per input record
CSV_COLUMNS = ("label", "score", "positive_probability", "error")


def env_limit(name: str, default: int) -> int:
    """A positive integer from the environment; a bad value falls back to the default (never kills the worker)."""
    raw = os.environ.get(name)
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return value if value > 0 else default


# InvokeEndpoint caps payloads at 6 MiB; the worker may also be reached directly (local server, batch).
MAX_BODY_BYTES = env_limit("SENTIMENT_MAX_BODY_BYTES", 6 * 1024 * 1024)
MAX_INSTANCES = env_limit("SENTIMENT_MAX_INSTANCES", 1000)
# Matches the data-quality ceiling of the Glue job (DataQualityConfig.max_text_chars): the model never saw longer.
MAX_TEXT_CHARS = env_limit("SENTIMENT_MAX_TEXT_CHARS", 50_000)
# Records per multi-record request (JSON Lines, CSV, plain text): the body-size limit binds first for real reviews.
MAX_BATCH_RECORDS = env_limit("SENTIMENT_MAX_BATCH_RECORDS", 100_000)


@dataclass(frozen=True)
class RequestRejection:
    """A client error travelling from ``input_fn`` to ``output_fn`` as a value (see the module docstring)."""

    status: int
    message: str

    def body(self) -> str:
        return json.dumps({"error": self.message})


def _reject(status: int, message: str) -> RequestRejection:
    return RequestRejection(status=status, message=message)


@dataclass(frozen=True)
class RecordError:
    """One record of a multi-record request that cannot be scored; ``parse`` marks a record that is not even a
    text (a CSV row with several fields), which a single-request answer reports before any count limit."""

    status: int
    message: str
    parse: bool = False


@dataclass(frozen=True)
class Records:
    """The records of a request in order: each a cleaned text (``str``) or a :class:`RecordError`."""

    items: tuple


@dataclass(frozen=True)
class ScoredRecords:
    """:func:`predict`'s answer to :class:`Records`: each a prediction (``dict``) or the record's error."""

    items: tuple


# --- input ------------------------------------------------------------------------------------------------
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
    """One item per CSV row: its text, or a :class:`RecordError` for a row of several fields. A body the CSV
    reader cannot get through (an unterminated quote, a field beyond the limit) is refused as a whole."""
    texts: list = []
    try:
        for row in csv.reader(io.StringIO(body, newline=""), strict=True):
            if not row:  # a blank line: kept so the row numbers in later messages stay right
                texts.append("")
                continue
            if len(row) != 1:
                texts.append(RecordError(
                    400,
                    f"CSV row {len(texts) + 1} has {len(row)} fields; send one review per row "
                    "(quote a review that contains commas)",
                    parse=True,
                ))
                continue
            texts.append(row[0])
    except csv.Error as error:
        if "field larger than field limit" in str(error):
            return _reject(413, f"a CSV field is longer than the limit of {MAX_TEXT_CHARS} characters per text")
        return _reject(400, f"malformed CSV at row {len(texts) + 1}: {error}")
    while texts and isinstance(texts[-1], str) and not texts[-1].strip():
        texts.pop()
    return texts


def _json_lines_record(index: int, line: str):
    """One JSON Lines record: a JSON string, or an object with a ``"text"`` string (other fields ignored)."""
    if not line.strip():
        return ""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as error:
        return RecordError(400, f"record {index} is not valid JSON: {getattr(error, 'msg', error)}", parse=True)
    if isinstance(record, dict):
        if "text" not in record:
            return RecordError(
                400, f'record {index} must be a JSON string or an object with a "text" field', parse=True
            )
        return record["text"]
    return record


def _texts_from_json_lines(body: str) -> list:
    return [_json_lines_record(index, line) for index, line in enumerate(_lines(body))]


def _validated_texts(items: list) -> list[str] | RequestRejection:
    """Type, count and length checks, then the shared normalization (``review_text.normalize_text``)."""
    if not items:
        return _reject(400, "no review texts in the request")
    if len(items) > MAX_INSTANCES:
        return _reject(413, f"too many texts: {len(items)} > {MAX_INSTANCES} per request")
    cleaned = []
    for index, item in enumerate(items):
        text = _validated_text(index, item)
        if isinstance(text, RecordError):
            return _reject(text.status, text.message)
        cleaned.append(text)
    return cleaned


def _validated_text(index: int, item) -> str | RecordError:
    """The normalized text of record ``index``, or why it cannot be scored."""
    if isinstance(item, RecordError):
        return item
    if not isinstance(item, str):
        return RecordError(400, f"instance {index} must be a string, got {type(item).__name__}")
    if len(item) > MAX_TEXT_CHARS:
        return RecordError(413, f"instance {index} is too long: {len(item)} > {MAX_TEXT_CHARS} characters")
    text = normalize_text(item)
    if not text:
        return RecordError(400, f"instance {index} is empty (after removing markup and whitespace)")
    return text


def _validated_records(items: list) -> Records | RequestRejection:
    """Per-record checks of a multi-record body: a bad record becomes its own error, the others are scored."""
    if not items:
        return _reject(400, "no review texts in the request")
    if len(items) > MAX_BATCH_RECORDS:
        return _reject(413, f"too many records: {len(items)} > {MAX_BATCH_RECORDS} per request")
    return Records(tuple(_validated_text(index, item) for index, item in enumerate(items)))


def parse_request(request_body, request_content_type):
    """Texts ready for :func:`predict`, or a :class:`RequestRejection`. Never raises on client input.

    A JSON body is one request (a list of cleaned texts, or refused as a whole, as always); the line formats
    (JSON Lines, CSV, plain text) become :class:`Records`, checked record by record, so that ``output_fn`` can
    answer a single request (the first bad record refuses it) or a Batch Transform mini-batch (one line each).
    """
    media, params = _parse_content_type(request_content_type)
    if media not in SUPPORTED_CONTENT_TYPES:
        return _reject(415, f"unsupported content type {media!r}; use one of {', '.join(SUPPORTED_CONTENT_TYPES)}")
    size = len(request_body) if isinstance(request_body, (str, bytes, bytearray, memoryview)) else 0
    if size > MAX_BODY_BYTES:
        return _reject(413, f"request body too large: {size} > {MAX_BODY_BYTES} bytes")
    body = _decode_body(request_body, params.get("charset"))
    if isinstance(body, RequestRejection):
        return body
    if "\x00" in body and media not in (JSON, JSON_LINES):
        return _reject(400, "request body contains NUL characters")
    if media == JSON:
        items = _texts_from_json(body)
        return items if isinstance(items, RequestRejection) else _validated_texts(items)
    if media == CSV:
        items = _texts_from_csv(body)
    elif media == JSON_LINES:
        items = _texts_from_json_lines(body)
    else:
        items = _lines(body)
    if isinstance(items, RequestRejection):
        return items
    return _validated_records(items)


# --- prediction and output --------------------------------------------------------------------------------
def predict(input_data, positive_probability: Callable[[list[str]], object]):
    """One prediction per text, in order, from the model's P(positive) per text (a numpy array); a rejection
    passes through untouched, a bad record stays its error."""
    if isinstance(input_data, RequestRejection):
        return input_data
    if isinstance(input_data, Records):
        texts = [item for item in input_data.items if isinstance(item, str)]
        scored = iter(_predictions(positive_probability(texts)) if texts else [])
        return ScoredRecords(tuple(next(scored) if isinstance(item, str) else item for item in input_data.items))
    return _predictions(positive_probability(input_data))


def _predictions(positive) -> list[dict]:
    predictions = []
    for p in positive.tolist():
        label = 1 if p >= 0.5 else 0
        predictions.append(
            {
                "label": LABEL_NAMES[label],
                "score": round(p if label else 1.0 - p, 6),
                "positive_probability": round(p, 6),
            }
        )
    return predictions


def _media_types(accept: str | None) -> list[str]:
    return [part.split(";")[0].strip().lower() for part in (accept or "").split(",")]


def accepts_json(accept: str | None) -> bool:
    """True when the Accept header allows JSON (missing, ``*/*``, ``application/*``, ``application/json``)."""
    if not accept or not accept.strip():
        return True
    return any(media in ("", "*/*", "application/*", JSON) for media in _media_types(accept))


def line_accept(accept: str | None) -> str | None:
    """The multi-record answer the Accept header asks for (JSON Lines or CSV), when it does not allow JSON."""
    if accepts_json(accept):
        return None
    return next((media for media in _media_types(accept) if media in LINE_ACCEPTS), None)


def _single_request_rejection(items: tuple) -> RequestRejection | None:
    """Why a multi-record body fails as ONE request: a record that is no text, too many, then the first bad one."""
    errors = [item for item in items if isinstance(item, RecordError)]
    parse_error = next((error for error in errors if error.parse), None)
    if parse_error is not None:
        return _reject(parse_error.status, parse_error.message)
    if len(items) > MAX_INSTANCES:
        return _reject(413, f"too many texts: {len(items)} > {MAX_INSTANCES} per request")
    return _reject(errors[0].status, errors[0].message) if errors else None


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def _json_lines_body(items) -> str:
    return "\n".join(
        json.dumps({"error": _one_line(item.message)} if isinstance(item, RecordError) else item) for item in items
    )


def _csv_body(items) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for item in items:
        if isinstance(item, RecordError):
            writer.writerow(["", "", "", _one_line(item.message)])
        else:
            writer.writerow([item["label"], item["score"], item["positive_probability"], ""])
    return out.getvalue().removesuffix("\n")


def render(prediction, accept: str | None) -> tuple[int, str, str]:
    """``(status, body, media type)``: 200 with the predictions (one JSON document, or one line per record for a
    multi-record Accept), or the 4xx of a rejection, or 406."""
    if isinstance(prediction, RequestRejection):
        return prediction.status, prediction.body(), JSON
    items = prediction.items if isinstance(prediction, ScoredRecords) else tuple(prediction)
    lines = line_accept(accept)
    if lines is None:
        rejection = _single_request_rejection(items) if isinstance(prediction, ScoredRecords) else None
        if rejection is None and not accepts_json(accept):
            rejection = _reject(406, f"unsupported accept {accept!r}; responses are {JSON}, {JSON_LINES} or {CSV}")
        if rejection is not None:
            return rejection.status, rejection.body(), JSON
        return 200, json.dumps({"predictions": list(items)}), JSON
    return 200, (_json_lines_body(items) if lines == JSON_LINES else _csv_body(items)), lines
