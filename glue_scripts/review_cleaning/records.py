"""The rules of one record, in plain Python: what every row's text, label, rating, repairs and reject reason are.

Spark runs :func:`classify_record` in its Python workers over Arrow batches (:func:`arrow_mapper`), the benchmark's
single-process contender runs the very same function row by row, and the text rules are ``review_text``'s, which
training and serving use too: one definition of cleaning.

Reject reasons are given in the order of ``REJECT_REASONS`` (the first that applies); repairs are the names of
``REPAIRS``. Nothing here imports Spark.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import review_text

from review_cleaning.language import LanguageRule

# The first reason that applies is the row's; near_duplicate_conflict is decided later, across rows.
REJECT_REASONS = ("malformed_record", "undecodable", "empty_text", "missing_label", "unknown_label",
                  "invalid_rating", "label_rating_conflict", "too_short", "too_long", "foreign_language",
                  "near_duplicate_conflict")
REPAIR_CP1252_BYTES = "cp1252_bytes"
REPAIR_LABEL_FROM_RATING = "label_from_rating"
REPAIRS = (REPAIR_CP1252_BYTES, review_text.REPAIR_MOJIBAKE, review_text.REPAIR_ESCAPED_HTML,
           review_text.REPAIR_LABEL_SPELLING, REPAIR_LABEL_FROM_RATING)
SEEN = (review_text.SEEN_BREAK_TAGS, review_text.SEEN_C1_CONTROLS, review_text.SEEN_ENTITIES)
REPLACEMENT_CHARACTER = "\ufffd"  # what a reader puts where bytes did not decode


# --- bytes: a CSV is read as Latin-1 (one character per byte, nothing lost), then decoded here ----------------

def _cp1252_for_bad_utf8(error: UnicodeDecodeError) -> tuple[str, int]:
    """Decode error handler: bytes that are not UTF-8 are read as Windows-1252 (U+FFFD where it has no character)."""
    chunk = error.object[error.start:error.end]
    return chunk.decode("cp1252", errors="replace"), error.end


codecs.register_error("ds_on_aws_cp1252", _cp1252_for_bad_utf8)


def decode_latin1_field(value: str | None) -> tuple[str | None, bool]:
    """The text behind a field read as Latin-1: its UTF-8 decoding, with Windows-1252 for bytes that are not UTF-8.

    Returns (text, True) when Windows-1252 bytes were met; an export that mixes UTF-8 and Windows-1252 rows (or
    fields) is repaired row by row. Bytes that neither encoding defines become U+FFFD (undecodable).
    """
    if value is None or value.isascii():
        return value, False
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:  # not read as Latin-1 (a character above U+00FF): already text
        return value, False
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="ds_on_aws_cp1252"), True


# --- one record ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecordRules:
    """The per-record rules and their thresholds (job arguments; defaults in pipeline_contracts)."""

    min_text_chars: int
    max_text_chars: int
    positive_min_rating: int
    negative_max_rating: int
    label_from_rating: bool
    repair_label_spelling: bool
    language: LanguageRule
    labels_required: bool = True  # False when scoring: labels are ignored and short texts are scored too


class Record(NamedTuple):
    text: str | None
    label: int | None
    rating: int | None
    reason: str | None
    detail: str | None
    repairs: tuple[str, ...]
    seen: tuple[str, ...]
    duplicate_hash: str | None


def parse_rating(value: str | None) -> tuple[int | None, bool]:
    """(rating, valid): an integral number; blank is (None, True), anything else (None, False)."""
    if value is None or not str(value).strip():
        return None, True
    try:
        number = float(str(value).strip())
    except ValueError:
        return None, False
    if number != number or abs(number) >= 1e9 or number != int(number):
        return None, False
    return int(number), True


def _rating_label(rating: int | None, rules: RecordRules) -> int | None:
    if rating is None:
        return None
    if rating >= rules.positive_min_rating:
        return 1
    if rating <= rules.negative_max_rating:
        return 0
    return None


def _label(label_raw: str | None, rating: int | None, rules: RecordRules) -> tuple[int | None, str | None, str | None]:
    """(label, repair, reason) in train mode."""
    if rules.repair_label_spelling:
        label, repair = review_text.parse_label(label_raw)
    else:
        label, repair = review_text.normalize_label(label_raw), None
    if label is not None:
        return label, repair, None
    derived = _rating_label(rating, rules) if rules.label_from_rating else None
    if derived is not None:
        return derived, REPAIR_LABEL_FROM_RATING, None
    blank = label_raw is None or not str(label_raw).strip()
    return None, None, ("missing_label" if blank else "unknown_label")


def classify_record(text_raw: str | None, label_raw: str | None, rating_raw: str | None, malformed: bool,
                    undecodable: bool, rules: RecordRules, repairs: tuple[str, ...] = ()) -> Record:
    """Every field of one cleaned record and its first reject reason (None when the row is fit to keep)."""
    text, seen = review_text.clean_review_text(text_raw)
    marks = [m for m in seen if m in REPAIRS]
    repairs = (*repairs, *marks)
    seen = tuple(m for m in seen if m not in REPAIRS)
    rating, rating_ok = parse_rating(rating_raw)
    reason = detail = label = None
    if malformed:
        reason = "malformed_record"
    elif undecodable or (text is not None and REPLACEMENT_CHARACTER in text):
        reason = "undecodable"
    elif not text:
        reason = "empty_text"
    elif rules.labels_required:
        label, label_repair, reason = _label(label_raw, rating, rules)
        if label_repair:
            repairs = (*repairs, label_repair)
    if reason is None:
        reason, detail = _content_reason(text, label, rating, rating_ok, rules)
    hashed = review_text.duplicate_hash(text) if text else None
    return Record(text, label, rating, reason, detail, repairs, seen, hashed)


def _content_reason(text: str, label: int | None, rating: int | None, rating_ok: bool,
                    rules: RecordRules) -> tuple[str | None, str | None]:
    if not rating_ok:
        return "invalid_rating", None
    by_rating = _rating_label(rating, rules)
    if label is not None and by_rating is not None and by_rating != label:
        return "label_rating_conflict", f"label {review_text.LABEL_NAMES[label]}, rating {rating}"
    if len(text) < rules.min_text_chars and rules.labels_required:  # a short answer ("Great!") is scored
        return "too_short", None
    if len(text) > rules.max_text_chars:
        return "too_long", None
    language = rules.language.foreign_language(text)
    if language:
        return "foreign_language", f"detected {language}, expected {rules.language.expected}"
    return None, None


# --- a batch of rows, as Spark's Python workers see them --------------------------------------------------------

TEXT_RAW = "_dq_text_raw"
INPUTS = (TEXT_RAW, "_dq_label_raw", "_dq_rating_raw", "_dq_malformed", "_dq_undecodable")
OUTPUTS = (("_dq_text", "string"), ("_dq_label", "int"), ("_dq_rating", "int"), ("_dq_reason", "string"),
           ("_dq_detail", "string"), ("_dq_repairs", "array<string>"), ("_dq_seen", "array<string>"),
           ("_dq_dup", "string"), ("_dq_changed", "boolean"), ("_dq_chars", "int"), ("_dq_words", "int"))


def classify_columns(columns: dict[str, list[Any]], rules: RecordRules, latin1_columns: Sequence[str] = (),
                     text_column: str = TEXT_RAW) -> dict[str, list[Any]]:
    """Column lists in -> the same columns (``latin1_columns`` decoded) plus every OUTPUTS column.

    The raw text is ``text_column`` (``_dq_text_raw`` unless an original column holds it). A raw text holding
    U+FFFD, which a reader puts where bytes did not decode, is undecodable, as is a row the reader flagged.
    """
    texts = columns[text_column]
    count = len(texts)
    undecodable = [bool(flag) or (text is not None and REPLACEMENT_CHARACTER in text)  # before any decoding
                   for flag, text in zip(columns["_dq_undecodable"], texts, strict=True)]
    cp1252 = [False] * count
    for name in latin1_columns:
        values = columns[name]
        for i, value in enumerate(values):
            values[i], repaired = decode_latin1_field(value)
            cp1252[i] = cp1252[i] or repaired
    out: dict[str, list[Any]] = {name: [] for name, _ in OUTPUTS}
    inputs = [texts, *(columns[name] for name in INPUTS[1:4]), undecodable]
    for i, (text_raw, label_raw, rating_raw, malformed, broken) in enumerate(zip(*inputs, strict=True)):
        record = classify_record(text_raw, label_raw, rating_raw, bool(malformed), broken, rules,
                                 (REPAIR_CP1252_BYTES,) if cp1252[i] else ())
        for name, value in zip(("_dq_text", "_dq_label", "_dq_rating", "_dq_reason", "_dq_detail", "_dq_repairs",
                                "_dq_seen", "_dq_dup"), record, strict=True):
            out[name].append(list(value) if isinstance(value, tuple) else value)
        out["_dq_changed"].append(text_raw is not None and record.text != text_raw)
        out["_dq_chars"].append(None if record.text is None else len(record.text))  # the report's text lengths
        out["_dq_words"].append(None if record.text is None else record.text.count(" ") + 1)
    return {**columns, **out}


def arrow_mapper(rules: RecordRules, keep: Sequence[str], latin1_columns: Sequence[str],
                 text_column: str = TEXT_RAW) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """The function for ``DataFrame.mapInArrow``: batches with ``keep`` + INPUTS in (without ``_dq_text_raw``
    when ``text_column``, one of ``keep``, holds the raw text), ``keep`` + OUTPUTS out.

    A column is turned into Python values only when the rules read it or decoding can change it: a ``keep``
    column that is not Latin-1, or holds only ASCII in a batch (which decodes to itself), goes back as it came.
    When ``text_column`` is one of ``keep``, it comes back null where the cleaning left the text as it was
    (``_dq_changed`` false): the cleaned text is the same string (classification.with_decisions restores it). The
    texts are most of what the job caches, and 4 in 10 IMDb reviews need no cleaning.
    """
    read = {text_column, *INPUTS[1:]}
    text_at = keep.index(text_column) if text_column in keep else None

    def classify_batches(batches):
        import pyarrow as pa
        import pyarrow.compute as pc

        for batch in batches:
            decoded = [name for name in latin1_columns
                       if pc.all(pc.string_is_ascii(batch.column(name))).as_py() is False]
            columns = {name: batch.column(name).to_pylist() for name in batch.schema.names
                       if name in read or name in decoded}
            result = classify_columns(columns, rules, decoded, text_column)
            arrays = [pa.array(result[name], type=batch.schema.field(name).type) if name in decoded
                      else batch.column(name) for name in keep]
            outputs = {name: pa.array(result[name], type=_ARROW_TYPES[name]) for name, _ in OUTPUTS}
            if text_at is not None:
                arrays[text_at] = pc.if_else(outputs["_dq_changed"], arrays[text_at],
                                             pa.scalar(None, arrays[text_at].type))
            yield pa.RecordBatch.from_arrays([*arrays, *outputs.values()], names=[*keep, *outputs])

    return classify_batches


def _arrow_types() -> dict[str, Any]:
    try:
        import pyarrow as pa
    except ImportError:  # the module stays importable without pyarrow (the pure-Python contender)
        return {}
    kinds = {"string": pa.string(), "int": pa.int32(), "array<string>": pa.list_(pa.string()),
             "boolean": pa.bool_()}
    return {name: kinds[kind] for name, kind in OUTPUTS}


_ARROW_TYPES = _arrow_types()
