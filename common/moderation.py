"""Moderation of a scoring run: Amazon Comprehend toxicity on the cleaned texts, Amazon Rekognition moderation labels
on the images the records reference; one result row per record, per-record failures kept in the row.

Runs in two places with the same code: the scoring state machine's moderation function (a Lambda function beside
Batch Transform; boto3 from the Lambda runtime) and ``ds-on-aws score --moderation-results FILE`` offline, which
converts a file of the services' replies (:func:`rows_from_replies`) instead of calling them. Standard library plus
boto3/botocore (imported only where a client is made).

Limits (the services' own, checked in botocore's models and the API references):

* ``DetectToxicContent``: at most 10 text segments per request, each at most 1 KB, the list at most 10 KB, English
  only. Texts are split into segments of at most :data:`SEGMENT_BYTES` UTF-8 bytes at word boundaries (a word
  longer than that is cut between characters); segments of several records share a request. A record's toxicity
  and each label's score are the maximum over its segments.
* ``DetectModerationLabels``: JPEG or PNG, read by Rekognition from S3 with the caller's permissions
  (``S3Object``), ``MinConfidence`` 0-100.

Throttling and transient errors are retried by botocore (``standard`` retry mode, :data:`RETRY_ATTEMPTS`
attempts with exponential backoff and jitter). What still fails is recorded on the records it concerns
(``moderation_error``); a toxicity request that fails for another reason is retried record by record, so one bad
text does not take its batch-mates with it. Only a failure that concerns the whole run (no credentials, a client
without the operation, unreadable input) raises.

Result row (``scoring/<run_id>/moderation/*.jsonl``, one JSON object a line)::

    {"review_id", "toxicity": float|null, "toxicity_labels": [{"name", "score"}]|null,
     "image_key": str|null, "image_labels": [{"name", "parent", "confidence", "taxonomy_level"}]|null,
     "flagged": bool, "moderation_error": str|null}

``null`` means "not checked" (switched off, no image, over a limit, or failed: then ``moderation_error`` says
why); ``[]`` means checked and nothing found. ``flagged``: toxicity at or above the threshold, or any image label.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

SEGMENTS_PER_REQUEST = 10  # DetectToxicContent: TextSegments, at most 10
SEGMENT_BYTES = 1000  # each segment at most 1 KB (kept just under 1,024 UTF-8 bytes)
REQUEST_BYTES = 10 * 1000  # the list at most 10 KB
RETRY_ATTEMPTS = 8  # botocore standard retry mode: throttling and 5xx, exponential backoff with jitter
THROTTLING = ("ThrottlingException", "TooManyRequestsException", "ProvisionedThroughputExceededException",
              "LimitExceededException")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
RESULT_SUFFIX = ".jsonl"  # scoring/<run_id>/moderation/<input file>.jsonl


class ModerationError(RuntimeError):
    """A failure of the whole moderation run (not of one record); the message names the cause."""


@dataclass(frozen=True)
class Settings:
    """What to check and the limits (``moderation`` in cdk.json; ``ds_on_aws.config.ModerationConfig``)."""

    toxicity: bool = False
    toxicity_threshold: float = 0.5
    toxicity_language: str = "en"
    images: bool = False
    image_column: str = "image_key"
    image_prefix: str = "images/"
    image_min_confidence: float = 50.0
    max_text_records: int = 20000
    max_image_records: int = 2000
    concurrency: int = 4

    @classmethod
    def from_mapping(cls, raw: Mapping) -> Settings:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in known})

    @property
    def enabled(self) -> dict:
        return {"toxicity": self.toxicity, "images": self.images}


# --- segments ---------------------------------------------------------------------------------------------------


def _cut(word: str, limit: int) -> Iterator[str]:
    """A word longer than ``limit`` UTF-8 bytes, cut between characters."""
    piece, size = [], 0
    for char in word:
        width = len(char.encode("utf-8"))
        if size + width > limit and piece:
            yield "".join(piece)
            piece, size = [], 0
        piece.append(char)
        size += width
    if piece:
        yield "".join(piece)


def segments(text: str, limit: int = SEGMENT_BYTES) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-8 bytes, split at spaces (words over the limit cut)."""
    pieces: list[str] = []
    current, size = [], 0
    for word in text.split():
        for part in (_cut(word, limit) if len(word.encode("utf-8")) > limit else (word,)):
            width = len(part.encode("utf-8"))
            if current and size + 1 + width > limit:
                pieces.append(" ".join(current))
                current, size = [], 0
            size += width + (1 if current else 0)
            current.append(part)
    if current:
        pieces.append(" ".join(current))
    return pieces


@dataclass
class TextBatch:
    """One DetectToxicContent request: its segments and, for each, (record index, segment index)."""

    texts: list = field(default_factory=list)
    owners: list = field(default_factory=list)
    size: int = 0

    def fits(self, text: str) -> bool:
        width = len(text.encode("utf-8"))
        return len(self.texts) < SEGMENTS_PER_REQUEST and self.size + width <= REQUEST_BYTES

    def add(self, text: str, owner: tuple) -> None:
        self.texts.append(text)
        self.owners.append(owner)
        self.size += len(text.encode("utf-8"))


def text_batches(texts: Iterable[str]) -> list[TextBatch]:
    """Requests covering every segment of ``texts`` in order, each within the API's limits."""
    batches = [TextBatch()]
    for index, text in enumerate(texts):
        for number, piece in enumerate(segments(text)):
            if not batches[-1].fits(piece):
                batches.append(TextBatch())
            batches[-1].add(piece, (index, number))
    return [b for b in batches if b.texts]


# --- results from the services' replies (shared by the cloud run and the offline file) -------------------------


def toxicity_result(results: Iterable[Mapping]) -> tuple[float, list]:
    """A record's toxicity and labels from the ``ResultList`` items of its segments: the maximum of each."""
    toxicity, labels = 0.0, {}
    for item in results:
        toxicity = max(toxicity, float(item.get("Toxicity") or 0.0))
        for label in item.get("Labels") or ():
            name, score = label["Name"], float(label.get("Score") or 0.0)
            labels[name] = max(labels.get(name, 0.0), score)
    return round(toxicity, 6), [{"name": n, "score": round(s, 6)} for n, s in sorted(labels.items())]


def image_result(reply: Mapping) -> list:
    """The labels of a ``DetectModerationLabels`` reply, as table rows."""
    return [{"name": label.get("Name"), "parent": label.get("ParentName") or None,
             "confidence": round(float(label.get("Confidence") or 0.0), 4),
             "taxonomy_level": label.get("TaxonomyLevel")} for label in reply.get("ModerationLabels") or ()]


def error_text(service: str, error: Mapping) -> str:
    """``<service>: <Code>: <Message>`` from a botocore error (``{"Code", "Message"}``)."""
    return f"{service}: {error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": ")


def new_row(review_id: str, image_key: str | None = None) -> dict:
    return {"review_id": review_id, "toxicity": None, "toxicity_labels": None, "image_key": image_key,
            "image_labels": None, "flagged": False, "moderation_error": None}


def add_error(row: dict, message: str) -> None:
    row["moderation_error"] = message if not row["moderation_error"] else f"{row['moderation_error']}; {message}"


def finish(row: dict, threshold: float) -> dict:
    """Set ``flagged``: toxicity at or above ``threshold``, or any image label."""
    row["flagged"] = bool((row["toxicity"] is not None and row["toxicity"] >= threshold) or row["image_labels"])
    return row


# --- the services -----------------------------------------------------------------------------------------------


def make_clients(region: str | None = None) -> tuple:
    """Comprehend and Rekognition clients with botocore's standard retries (throttling backed off with jitter)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": RETRY_ATTEMPTS}, connect_timeout=10, read_timeout=60)
    return boto3.client("comprehend", region_name=region, config=config), \
        boto3.client("rekognition", region_name=region, config=config)


def _client_error(exc: Exception) -> dict | None:
    """``{"Code", "Message"}`` of a botocore ClientError; None for anything else (a failure of the run)."""
    response = getattr(exc, "response", None)
    return response.get("Error") if isinstance(response, dict) and "Error" in response else None


def detect_toxicity(client, batch: TextBatch, language: str) -> list | dict:
    """The ``ResultList`` of one request, or the error ``{"Code", "Message"}`` when it failed after retries."""
    try:
        reply = client.detect_toxic_content(TextSegments=[{"Text": t} for t in batch.texts], LanguageCode=language)
    except Exception as exc:
        error = _client_error(exc)
        if error is None:
            raise
        return error
    results = reply.get("ResultList") or []
    if len(results) != len(batch.texts):
        return {"Code": "UnexpectedReply", "Message": f"{len(results)} results for {len(batch.texts)} segments"}
    return results


def detect_image_labels(client, bucket: str, key: str, min_confidence: float) -> dict:
    """The reply of one DetectModerationLabels, or ``{"Error": {"Code", "Message"}}``."""
    try:
        return client.detect_moderation_labels(Image={"S3Object": {"Bucket": bucket, "Name": key}},
                                               MinConfidence=float(min_confidence))
    except Exception as exc:
        error = _client_error(exc)
        if error is None:
            raise
        return {"Error": error}


def image_location(value, raw_bucket: str, prefix: str) -> tuple[str | None, str | None]:
    """(key, None) for an image the run may check, else (None, why not). ``value``: a key or s3://<raw bucket>/key."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    text = str(value).strip()
    if text.startswith("s3://"):
        bucket, _, key = text[len("s3://"):].partition("/")
        if bucket != raw_bucket:
            return None, f"image: {text} is outside the raw bucket (only s3://{raw_bucket}/{prefix}... is read)"
    else:
        key = text.lstrip("/")
    if not key.startswith(prefix):
        return None, f"image: {key} is outside moderation.image_prefix {prefix!r}"
    if not key.lower().endswith(IMAGE_EXTENSIONS):
        return None, f"image: {key} is not a JPEG or PNG file (Rekognition reads only those)"
    return key, None


# --- one run ----------------------------------------------------------------------------------------------------


@dataclass
class Deadline:
    """Stop starting requests once ``seconds`` have passed (the Lambda function's time limit, less a margin)."""

    seconds: float | None = None
    started: float = field(default_factory=time.monotonic)

    def passed(self) -> bool:
        return self.seconds is not None and time.monotonic() - self.started >= self.seconds


def _check_toxicity(rows: list, records: list, settings: Settings, client, deadline: Deadline, pool,
                    used: dict) -> None:
    room = max(settings.max_text_records - used.get("text", 0), 0)  # the run's budget, across calls
    indexes = [i for i, r in enumerate(records) if (r.get("text") or "").strip()][:room]
    checked = set(indexes)
    for i in range(len(records)):
        if i not in checked:
            add_error(rows[i], f"toxicity: not checked (over moderation.max_text_records {settings.max_text_records})"
                      if (records[i].get("text") or "").strip() else "toxicity: not checked (empty text)")
    batches = text_batches(records[i]["text"] for i in indexes)
    used["text"] = used.get("text", 0) + len(indexes)

    def run(batch: TextBatch):
        return None if deadline.passed() else detect_toxicity(client, batch, settings.toxicity_language)

    per_record: dict = {}
    for batch, answer in zip(batches, pool.map(run, batches), strict=True):
        _collect_toxicity(batch, answer, indexes, per_record, client, settings)
    for position, index in enumerate(indexes):
        found = per_record.get(position)
        if isinstance(found, str):
            add_error(rows[index], found)
        elif found is not None:
            rows[index]["toxicity"], rows[index]["toxicity_labels"] = toxicity_result(r for _, r in sorted(found))


def _collect_toxicity(batch: TextBatch, answer, indexes: list, per_record: dict, client, settings: Settings) -> None:
    """File a request's results under their records; a failed multi-record request is retried record by record."""
    if answer is None:
        for position, _ in batch.owners:
            per_record[position] = "toxicity: not checked (time limit of the moderation step)"
        return
    if isinstance(answer, dict):
        positions = sorted({p for p, _ in batch.owners})
        if len(positions) > 1 and answer.get("Code") not in THROTTLING:
            for position in positions:
                single = TextBatch()
                for text, owner in zip(batch.texts, batch.owners, strict=True):
                    if owner[0] == position:
                        single.add(text, owner)
                _collect_toxicity(single, detect_toxicity(client, single, settings.toxicity_language), indexes,
                                  per_record, client, settings)
            return
        for position in positions:
            per_record[position] = error_text("toxicity", answer)
        return
    for (position, number), result in zip(batch.owners, answer, strict=True):
        if not isinstance(per_record.get(position), str):
            per_record.setdefault(position, []).append((number, result))


def _check_images(rows: list, records: list, settings: Settings, client, raw_bucket: str, deadline: Deadline,
                  pool, used: dict) -> None:
    todo = []
    for index, record in enumerate(records):
        key, problem = image_location(record.get(settings.image_column), raw_bucket, settings.image_prefix)
        rows[index]["image_key"] = record.get(settings.image_column)
        if problem:
            add_error(rows[index], problem)
        elif key is not None and len(todo) + used.get("images", 0) >= settings.max_image_records:
            add_error(rows[index], f"image: not checked (over moderation.max_image_records {settings.max_image_records})")
        elif key is not None:
            todo.append((index, key))

    used["images"] = used.get("images", 0) + len(todo)

    def run(item):
        if deadline.passed():
            return {"Error": {"Code": "NotChecked", "Message": "time limit of the moderation step"}}
        return detect_image_labels(client, raw_bucket, item[1], settings.image_min_confidence)

    for (index, _), reply in zip(todo, pool.map(run, todo), strict=True):
        if "Error" in reply:
            add_error(rows[index], error_text("image", reply["Error"]))
        else:
            rows[index]["image_labels"] = image_result(reply)


def moderate(records: list, settings: Settings, *, comprehend=None, rekognition=None, raw_bucket: str = "",
             deadline: Deadline | None = None, used: dict | None = None) -> list:
    """One result row per record (``{"review_id", "text", <image column>...}``), in order.

    ``used`` (optional) counts the records sent to each service (``text``, ``images``), for a per-run budget.
    """
    rows = [new_row(r["review_id"]) for r in records]
    deadline, used = deadline or Deadline(), used if used is not None else {}
    with ThreadPoolExecutor(max_workers=settings.concurrency) as pool:
        if settings.toxicity:
            if comprehend is None or not hasattr(comprehend, "detect_toxic_content"):
                raise ModerationError("this boto3 has no Comprehend DetectToxicContent: use a newer boto3/botocore")
            _check_toxicity(rows, records, settings, comprehend, deadline, pool, used)
        if settings.images:
            if rekognition is None:
                raise ModerationError("no Rekognition client for the image check")
            _check_images(rows, records, settings, rekognition, raw_bucket, deadline, pool, used)
    return [finish(row, settings.toxicity_threshold) for row in rows]


# --- the offline file of the services' replies -------------------------------------------------------------------


def rows_from_replies(lines: Iterable[str], settings: Settings, where: str = "moderation results") -> list:
    """Result rows from JSON Lines of the services' replies, one object per review::

        {"review_id": "...",
         "DetectToxicContent": {"ResultList": [<ToxicLabels of each segment of the text>]} | {"Error": {...}},
         "DetectModerationLabels": {"ModerationLabels": [...], ...} | {"Error": {"Code", "Message"}},
         "image_key": "..."}                                     (every key but review_id optional)
    """
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise ModerationError(f"{where} line {number}: not JSON ({exc})") from None
        if not isinstance(item, dict) or not isinstance(item.get("review_id"), str):
            raise ModerationError(f"{where} line {number}: expected an object with a review_id string")
        rows.append(finish(_row_from_reply(item, f"{where} line {number}"), settings.toxicity_threshold))
    return rows


def _row_from_reply(item: Mapping, where: str) -> dict:
    row = new_row(item["review_id"], item.get("image_key"))
    text, image = item.get("DetectToxicContent"), item.get("DetectModerationLabels")
    for name, reply in (("DetectToxicContent", text), ("DetectModerationLabels", image)):
        if reply is not None and not isinstance(reply, dict):
            raise ModerationError(f"{where}: {name} must be the service's reply object, got {type(reply).__name__}")
    if text is not None and "Error" in text:
        add_error(row, error_text("toxicity", text["Error"]))
    elif text is not None:
        if not isinstance(text.get("ResultList"), list):
            raise ModerationError(f"{where}: DetectToxicContent has no ResultList")
        row["toxicity"], row["toxicity_labels"] = toxicity_result(text["ResultList"])
    if image is not None and "Error" in image:
        add_error(row, error_text("image", image["Error"]))
    elif image is not None:
        row["image_labels"] = image_result(image)
    return row


def write_rows(rows: Iterable[Mapping], write: Callable[[str], None]) -> None:
    write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
