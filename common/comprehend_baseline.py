"""Amazon Comprehend as the managed baseline: its input, its output archive and the comparison with the labels.

Standard library only: the baseline's Lambda function (``stacks/constructs/baseline_runtime``), the offline runner
and the tests import it alike.

Input (``StartSentimentDetectionJob`` with ``InputFormat=ONE_DOC_PER_LINE``): one review per line, UTF-8, each at
most :data:`MAX_DOCUMENT_BYTES` bytes (Comprehend refuses a longer document with ``DOCUMENT_SIZE_EXCEEDED``). A longer
review is shortened: cut to the byte limit without splitting a character, then back to the last space, so the last
word is whole; the number of shortened reviews is reported. Line breaks inside a review become spaces.

The sample is deterministic: the validation reviews ordered by the SHA-256 of their ``review_id``, first
``sample_size`` of them, so the same split always gives the same sample whatever the order of its part files.

Output: ``output/output.tar.gz`` holds JSON lines ``{"File", "Line", "Sentiment", "SentimentScore": {"Positive",
"Negative", "Neutral", "Mixed"}}``; a document Comprehend could not score has ``"ErrorCode"`` (and
``"ErrorMessage"``) instead. ``Line`` is 0-based.

Labels: :data:`SENTIMENT_TO_LABEL`. POSITIVE is 1, NEGATIVE is 0. NEUTRAL and MIXED are not a binary answer; they
are mapped to whichever of ``SentimentScore.Positive`` and ``SentimentScore.Negative`` is larger (a tie counts as
negative), so every scored review gets a label and accuracy compares with the custom model on the same reviews; their
share is reported on its own (``neutral_or_mixed_share``), with the accuracy on the POSITIVE/NEGATIVE answers alone.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import tarfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

MAX_DOCUMENT_BYTES = 5120  # Comprehend's per-document limit for sentiment, UTF-8 bytes
BILLING_UNIT_CHARS = 100  # one Comprehend unit = 100 characters
MIN_UNITS_PER_DOCUMENT = 3  # a document is billed at least 3 units
LANGUAGE_CODE = "en"

#: Comprehend's classes -> the pipeline's labels (1 positive, 0 negative); None: decided by the larger score.
SENTIMENT_TO_LABEL: Mapping[str, int | None] = {"POSITIVE": 1, "NEGATIVE": 0, "NEUTRAL": None, "MIXED": None}
UNDECIDED = ("NEUTRAL", "MIXED")


class BaselineError(ValueError):
    """Input or output of the baseline that cannot be used; the message names the file, line or field."""


# --- input ------------------------------------------------------------------------------------------------------


def shorten_to_limit(text: str, limit: int = MAX_DOCUMENT_BYTES) -> tuple[str, bool]:
    """``text`` on one line and within ``limit`` UTF-8 bytes; True when it had to be cut."""
    one_line = " ".join(text.splitlines()) if ("\n" in text or "\r" in text) else text
    encoded = one_line.encode("utf-8")
    if len(encoded) <= limit:
        return one_line, False
    cut = encoded[:limit].decode("utf-8", errors="ignore")  # drops a character split by the cut
    space = cut.rfind(" ")
    if space > len(cut) // 2:
        cut = cut[:space]
    return cut.rstrip(), True


def billing_units(text: str) -> int:
    """Comprehend units of one document: 100 characters a unit, at least 3."""
    return max(MIN_UNITS_PER_DOCUMENT, math.ceil(len(text) / BILLING_UNIT_CHARS))


def sample_order(review_id: str) -> str:
    return hashlib.sha256(str(review_id).encode("utf-8")).hexdigest()


def read_json_lines(data: bytes, name: str) -> list[dict]:
    """The records of one part file of a split (gzip or plain JSON Lines)."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    records = []
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise BaselineError(f"{name} line {number}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict) or not {"review_id", "text", "label"} <= set(record):
            raise BaselineError(f"{name} line {number}: expected an object with review_id, text and label")
        records.append(record)
    return records


@dataclass
class PreparedInput:
    """The documents to send (one a line), the manifest of each line and the counts the report shows."""

    documents: list[str]
    manifest: list[dict]
    available: int  # reviews in the validation split

    @property
    def text(self) -> str:
        return "".join(f"{document}\n" for document in self.documents)

    def manifest_text(self) -> str:
        return "".join(json.dumps(entry, sort_keys=True) + "\n" for entry in self.manifest)

    def stats(self) -> dict:
        return {
            "available": self.available,
            "documents": len(self.documents),
            "shortened": sum(1 for entry in self.manifest if entry["shortened"]),
            "characters": sum(entry["characters"] for entry in self.manifest),
            "billing_units": sum(entry["units"] for entry in self.manifest),
            "max_document_bytes": MAX_DOCUMENT_BYTES,
        }


def prepare_input(records: Iterable[Mapping], sample_size: int) -> PreparedInput:
    """The deterministic sample of ``records`` (validation reviews) as Comprehend's one-document-per-line input."""
    if sample_size < 1:
        raise BaselineError(f"sample_size must be at least 1, got {sample_size}")
    usable = [r for r in records if isinstance(r.get("text"), str) and r["text"].strip() and r.get("label") in (0, 1)]
    if not usable:
        raise BaselineError("the validation split holds no labeled review to send to Comprehend")
    chosen = sorted(usable, key=lambda r: sample_order(r["review_id"]))[:sample_size]
    documents, manifest = [], []
    for line, record in enumerate(chosen):
        document, shortened = shorten_to_limit(record["text"])
        documents.append(document)
        manifest.append(
            {
                "line": line,
                "review_id": str(record["review_id"]),
                "label": int(record["label"]),
                "characters": len(document),
                "original_characters": len(record["text"]),
                "shortened": shortened,
                "units": billing_units(document),
            }
        )
    return PreparedInput(documents=documents, manifest=manifest, available=len(usable))


def read_manifest(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- output -----------------------------------------------------------------------------------------------------


@dataclass
class ParsedOutput:
    """Comprehend's answers by (file, line): ``results`` (sentiment and scores) and ``errors`` (code, message)."""

    results: dict[tuple[str, int], dict] = field(default_factory=dict)
    errors: dict[tuple[str, int], dict] = field(default_factory=dict)


def _parse_output_line(line: str, where: str, parsed: ParsedOutput) -> None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise BaselineError(f"{where}: not valid JSON ({error.msg})") from None
    if not isinstance(record, dict) or "Line" not in record or not isinstance(record["Line"], int):
        raise BaselineError(f"{where}: expected an object with an integer Line, got {line[:120]!r}")
    key = (str(record.get("File", "")), record["Line"])
    if "ErrorCode" in record:
        parsed.errors[key] = {"code": str(record["ErrorCode"]), "message": str(record.get("ErrorMessage", ""))}
        return
    sentiment = record.get("Sentiment")
    if sentiment not in SENTIMENT_TO_LABEL:
        raise BaselineError(f"{where}: unknown Sentiment {sentiment!r} (expected one of {sorted(SENTIMENT_TO_LABEL)})")
    scores = record.get("SentimentScore") or {}
    parsed.results[key] = {
        "sentiment": sentiment,
        "scores": {name: float(scores.get(name, 0.0)) for name in ("Positive", "Negative", "Neutral", "Mixed")},
    }


def parse_output_archive(data: bytes) -> ParsedOutput:
    """Every line of every file in Comprehend's ``output.tar.gz``; a malformed line raises naming file and line."""
    parsed = ParsedOutput()
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
    except tarfile.TarError as error:
        raise BaselineError(f"not a Comprehend output archive (tar.gz): {error}") from None
    with archive:
        members = [m for m in archive.getmembers() if m.isfile()]
        if not members:
            raise BaselineError("the Comprehend output archive holds no file")
        for member in members:
            text = archive.extractfile(member).read().decode("utf-8")
            for number, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    _parse_output_line(line, f"{member.name} line {number}", parsed)
    return parsed


def label_of(result: Mapping) -> int:
    """The binary label of one Comprehend answer (see :data:`SENTIMENT_TO_LABEL`)."""
    mapped = SENTIMENT_TO_LABEL[result["sentiment"]]
    if mapped is not None:
        return mapped
    scores = result["scores"]
    return 1 if scores["Positive"] > scores["Negative"] else 0


# --- comparison -------------------------------------------------------------------------------------------------


def binary_metrics(labels: Sequence[int], predicted: Sequence[int]) -> dict:
    """Accuracy, F1 of the positive class and the confusion matrix (rows: true label, columns: predicted)."""
    if len(labels) != len(predicted):
        raise BaselineError(f"{len(labels)} labels but {len(predicted)} predictions")
    pairs = Counter(zip(labels, predicted, strict=True))
    tp, tn, fp, fn = pairs[(1, 1)], pairs[(0, 0)], pairs[(0, 1)], pairs[(1, 0)]
    n = len(labels)
    precision_den, recall_den = tp + fp, tp + fn
    f1 = 2 * tp / (precision_den + recall_den) if precision_den + recall_den else 0.0
    return {
        "reviews": n,
        "accuracy": (tp + tn) / n if n else None,
        "f1": f1 if n else None,
        "confusion_matrix": {
            "true_negative": tn,
            "false_positive": fp,
            "false_negative": fn,
            "true_positive": tp,
        },
    }


def compare_with_labels(manifest: Sequence[Mapping], parsed: ParsedOutput, input_file: str = "") -> dict:
    """Comprehend's answers on the manifest's reviews: metrics, class counts, errors, the NEUTRAL/MIXED share.

    ``input_file`` is the ``File`` the answers name (the input object's name); empty matches any file.
    """

    def lookup(table: Mapping[tuple[str, int], dict], line: int) -> dict | None:
        if input_file:
            return table.get((input_file, line))
        return next((value for (_, number), value in table.items() if number == line), None)

    labels, predicted, decided_labels, decided_predicted = [], [], [], []
    classes: Counter = Counter()
    errors: Counter = Counter()
    per_review = {}
    for entry in manifest:
        result = lookup(parsed.results, entry["line"])
        if result is None:
            error = lookup(parsed.errors, entry["line"])
            errors[error["code"] if error else "MISSING_FROM_OUTPUT"] += 1
            continue
        label = label_of(result)
        classes[result["sentiment"]] += 1
        labels.append(entry["label"])
        predicted.append(label)
        per_review[entry["review_id"]] = label
        if result["sentiment"] not in UNDECIDED:
            decided_labels.append(entry["label"])
            decided_predicted.append(label)
    scored = len(labels)
    undecided = sum(classes[name] for name in UNDECIDED)
    return {
        "documents": len(manifest),
        "scored": scored,
        "errors": dict(sorted(errors.items())),
        "sentiments": {name: classes[name] for name in SENTIMENT_TO_LABEL},
        "neutral_or_mixed_share": undecided / scored if scored else None,
        "metrics": binary_metrics(labels, predicted),
        "metrics_positive_negative_only": binary_metrics(decided_labels, decided_predicted),
        "predictions": per_review,
    }
