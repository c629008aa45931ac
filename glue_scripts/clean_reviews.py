"""Glue job ``clean_reviews``: raw review exports -> clean, de-duplicated, split training data + a data-quality gate.

Runs unchanged on AWS Glue 5.1 (Spark 3.5.6, Python 3.11) and on a laptop (local Spark). Everything except
:func:`main` is plain PySpark, importable without Glue (``import clean_reviews``): the offline runner calls
:func:`run_job` in-process and the tests call the small functions one by one.

Flow (one pass over the data, cached once after cleaning):

1. :func:`read_input` detects the format (CSV, JSON Lines, Parquet, the aclImdb folder tree; plain or gzip),
   finds the text/label/rating/id/url/split columns by their common spellings and returns one *standardized*
   frame: the original columns plus internal ``_dq_*`` columns.
2. :func:`clean_text` builds the text cleaning from ``review_text``'s rule data with Spark built-ins
   (``translate`` with the C1 table, ``regexp_replace`` with the tag and whitespace patterns, ``trim``); only rows
   that contain ``&`` or non-ASCII characters take a vectorized pandas UDF for HTML entities and NFC, which have no
   Spark built-in. The result equals ``review_text.normalize_text`` exactly (tests prove it on every row of the
   real data and on an edge-case fixture).
3. :func:`classify` gives each row a reject reason or none; :func:`deduplicate` collapses exact duplicates of the
   cleaned text (same label) to one representative and sends every copy of a text whose labels disagree to
   quarantine; :func:`assign_splits` splits the rest deterministically (seeded hash), stratified by label, grouped
   by movie ``url``; rows the input marks as test stay test.
4. :func:`run_job` writes the curated channels (JSON Lines gzip), the Parquet table partitions, the quarantine and
   the report, then raises :class:`DataQualityError` when a check failed.

Outputs under ``--curated_uri`` (see ARCHITECTURE.md): ``curated/<run_id>/{train,validation,test}/``,
``tables/reviews/run_id=<run_id>/split=<split>/``, ``quarantine/<run_id>/``, ``reports/<run_id>/data_quality.json``
and ``reports/<run_id>/duplicates/`` (which review was collapsed into which).
"""

from __future__ import annotations

import argparse
import functools
import html
import json
import math
import os
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

try:  # Glue: shipped with --extra-py-files; tests: on pytest's pythonpath
    import review_text
except ModuleNotFoundError:  # a local run of this file from a checkout: common/ sits beside glue_scripts/
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "common"))
    import review_text

# ----------------------------------------------------------------------------------------------------------
# Errors: each carries a message meant for a human, without a stack trace.
# ----------------------------------------------------------------------------------------------------------


class InputError(Exception):
    """The input cannot be read as review data (missing, unknown format, no text or label column, bad option)."""


class DataQualityError(Exception):
    """The data-quality gate refused the run; the message names every failed check with value and threshold."""

    def __init__(self, message: str, report: dict[str, Any]):
        super().__init__(message)
        self.report = report


EXIT_INPUT_ERROR = 2
EXIT_DATA_QUALITY = 3

# ----------------------------------------------------------------------------------------------------------
# Options (job arguments without the leading "--"; all values arrive as strings, as Glue passes them)
# ----------------------------------------------------------------------------------------------------------

# Defaults mirror ds_on_aws.config.DataQualityConfig (a test keeps them equal; Glue cannot import ds_on_aws).
DEFAULT_THRESHOLDS: dict[str, str] = {
    "min_rows": "1000",
    "max_quarantine_share": "0.05",
    "min_class_share": "0.35",
    "max_duplicate_share": "0.05",
    "min_text_chars": "10",
    "max_text_chars": "50000",
    "validation_share": "0.1",
    "seed": "42",
}
REQUIRED_OPTIONS = ("input_uri", "curated_uri", "run_id")
OPTIONAL_OPTIONS = ("input_format", *DEFAULT_THRESHOLDS)
INPUT_FORMATS = ("auto", "csv", "jsonl", "parquet", "aclimdb")
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class JobOptions:
    input_uri: str
    curated_uri: str
    run_id: str
    input_format: str = "auto"
    min_rows: int = 1000
    max_quarantine_share: float = 0.05
    min_class_share: float = 0.35
    max_duplicate_share: float = 0.05
    min_text_chars: int = 10
    max_text_chars: int = 50000
    validation_share: float = 0.1
    seed: int = 42

    def thresholds(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k in DEFAULT_THRESHOLDS}


def parse_options(options: Mapping[str, str]) -> JobOptions:
    """Validate the job arguments; any problem is an :class:`InputError` naming the argument."""
    unknown = sorted(set(options) - set(REQUIRED_OPTIONS) - set(OPTIONAL_OPTIONS))
    if unknown:
        raise InputError(f"unknown job argument(s) {['--' + u for u in unknown]}; known: "
                         f"{['--' + k for k in (*REQUIRED_OPTIONS, *OPTIONAL_OPTIONS)]}")
    missing = [k for k in REQUIRED_OPTIONS if not str(options.get(k) or "").strip()]
    if missing:
        raise InputError(f"missing job argument(s) {['--' + m for m in missing]}")
    values: dict[str, Any] = {k: str(options[k]).strip() for k in REQUIRED_OPTIONS}
    if not RUN_ID_PATTERN.match(values["run_id"]):
        raise InputError(f"--run_id: letters, digits, '.', '_' and '-' only (max 128), got {values['run_id']!r}")
    fmt = str(options.get("input_format") or "auto").strip().lower()
    if fmt not in INPUT_FORMATS:
        raise InputError(f"--input_format: one of {list(INPUT_FORMATS)}, got {fmt!r}")
    values["input_format"] = fmt
    for name, default in DEFAULT_THRESHOLDS.items():
        raw = str(options.get(name, default)).strip()
        kind = int if name in ("min_rows", "min_text_chars", "max_text_chars", "seed") else float
        try:
            value = kind(raw)
        except ValueError:
            raise InputError(f"--{name}: expected {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
        if kind is float and not (0.0 <= value <= 1.0):
            raise InputError(f"--{name}: must be between 0 and 1, got {raw}")
        if kind is int and name != "seed" and value < 0:
            raise InputError(f"--{name}: must not be negative, got {raw}")
        values[name] = value
    if values["min_class_share"] > 0.5:
        raise InputError(f"--min_class_share: must be at most 0.5, got {values['min_class_share']}")
    if values["min_text_chars"] >= values["max_text_chars"]:
        raise InputError(f"--min_text_chars ({values['min_text_chars']}) must be below --max_text_chars "
                         f"({values['max_text_chars']})")
    return JobOptions(**values)


# ----------------------------------------------------------------------------------------------------------
# Column roles. Text and label spellings come from review_text (shared with training); the others are the job's.
# ----------------------------------------------------------------------------------------------------------

RATING_COLUMN_CANDIDATES = ("rating", "stars", "star_rating", "score")
KEY_COLUMN_CANDIDATES = ("review_id", "file", "id")  # first one that is present, complete and unique
URL_COLUMN_CANDIDATES = ("url", "movie_url", "movie_id", "title_id", "product_id", "item_id")
SPLIT_COLUMN_CANDIDATES = ("split", "subset", "fold")
TEST_SPLIT_SPELLINGS = ("test", "testing", "holdout", "heldout", "eval")
CORRUPT_COLUMN = "_corrupt_record"
SPLITS = ("train", "validation", "test")
REJECT_REASONS = ("malformed_record", "undecodable", "empty_text", "missing_label", "unknown_label",
                  "invalid_rating", "too_short", "too_long", "conflicting_duplicate")

# aclImdb tree: <root>/{train,test}/{pos,neg}/<id>_<rating>.txt[.gz]; unsup/ and the other files are ignored.
ACLIMDB_SPLIT_DIRS = ("train", "test")
ACLIMDB_LABEL_DIRS = ("pos", "neg")
ACLIMDB_TAIL = r"((train|test)/(pos|neg)/([^/]+?))(\.gz)?$"
ACLIMDB_NAME = r"^([0-9]+)_([0-9]+)\.txt$"

EXTENSION_FORMATS = (
    (re.compile(r"\.csv(\.gz)?$", re.I), "csv"),
    (re.compile(r"\.(jsonl|ndjson|json)(\.gz)?$", re.I), "jsonl"),
    (re.compile(r"\.parquet$", re.I), "parquet"),
)


def find_column(columns: Iterable[str], candidates: Sequence[str]) -> str | None:
    """The first candidate present in ``columns`` (case-, space- and BOM-insensitive); the column's real name."""
    by_key = {}
    for name in columns:
        by_key.setdefault(name.replace("\ufeff", "").strip().lower(), name)
    for candidate in candidates:
        if candidate in by_key:
            return by_key[candidate]
    return None


# ----------------------------------------------------------------------------------------------------------
# Python regex -> Java regex, so that Spark's regexp_replace matches exactly what Python's ``re`` matches.
# review_text's patterns are written for both, but three constructs mean something else in Java:
# ``\s`` (Python: Unicode whitespace incl. U+001C-U+001F; Java: ASCII only), ``\b`` (Python: Unicode \w;
# Java 17: letters and digits only) and ``(?i)`` (Python also folds U+0130/U+0131 onto "i"). They are replaced
# by explicit classes computed from Python itself.
# ----------------------------------------------------------------------------------------------------------


def _ranges_to_java_class(codepoints: Iterable[int]) -> str:
    """``[...]`` listing ``codepoints`` as ``\\x{..}`` ranges (valid Java regex)."""
    points = sorted(set(codepoints))
    parts: list[str] = []
    start = prev = None
    for cp in [*points, None]:
        if cp is not None and prev is not None and cp == prev + 1:
            prev = cp
            continue
        if start is not None:
            parts.append(f"\\x{{{start:X}}}" if start == prev else f"\\x{{{start:X}}}-\\x{{{prev:X}}}")
        start = prev = cp
    return "[" + "".join(parts) + "]"


@functools.cache
def _all_code_points() -> str:
    return "".join(map(chr, range(0x110000)))


@functools.cache
def _python_matches(pattern: str, ascii_only: bool = False) -> str:
    """A Java class of every code point that Python's ``re`` matches with ``pattern`` (one C-speed scan).

    ``ascii_only`` keeps code points below 128: small classes that Java tests fast, exact for ASCII-only text.
    """
    universe = _all_code_points()[:128] if ascii_only else _all_code_points()
    return _ranges_to_java_class(map(ord, re.findall(pattern, universe)))


def _python_class(kind: str, ascii_only: bool = False) -> str:
    return _python_matches(r"\s" if kind == "s" else r"\w", ascii_only)


def _case_class(letter: str, ascii_only: bool = False) -> str:
    return _python_matches("(?i)" + re.escape(letter), ascii_only)


@functools.cache
def java_regex(pattern: str, ascii_only: bool = False) -> str:
    """Translate one of review_text's Python patterns to a Java pattern with the same matches.

    Supported: a leading ``(?i)`` (ASCII letters outside classes are expanded to Python's case class), ``\\s``
    and ``\\b`` outside classes, literal characters, groups, quantifiers and classes without letters under
    ``(?i)``. Anything else raises ``ValueError`` so a future pattern change cannot silently diverge.
    With ``ascii_only`` the classes hold only ASCII code points: the result is exact for ASCII-only text and
    several times faster (a class with supplementary code points puts Java's matcher in code-point mode).
    """
    ignore_case = pattern.startswith("(?i)")
    body = pattern[4:] if ignore_case else pattern
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt == "s":
                out.append(_python_class("s", ascii_only))
            elif nxt == "b":
                word = _python_class("w", ascii_only)
                out.append(f"(?:(?<={word})(?!{word})|(?<!{word})(?={word}))")
            elif nxt in "dwSWBDAZz":
                raise ValueError(f"java_regex: unsupported escape \\{nxt} in {pattern!r}")
            else:
                out.append(body[i:i + 2])
            i += 2
        elif ch == "[":
            end = body.index("]", i + 2 if body[i + 1] in "^]" else i + 1)
            cls = body[i:end + 1]
            if ignore_case and re.search(r"[A-Za-z]", cls.replace("\\", "")):
                raise ValueError(f"java_regex: letters in a class under (?i) are not supported: {cls!r}")
            if "\\s" in cls or "\\w" in cls or "\\d" in cls:
                raise ValueError(f"java_regex: class escapes are not supported: {cls!r}")
            out.append(cls)
            i = end + 1
        elif ignore_case and ch.isascii() and ch.isalpha():
            out.append(_case_class(ch, ascii_only))
            i += 1
        elif not ch.isascii():
            out.append(f"\\x{{{ord(ch):X}}}")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _java_class_of_chars(chars: str) -> str:
    """A character class pattern string (review_text's whitespace class) with non-ASCII written as \\x{..}."""
    return "".join(f"\\x{{{ord(c):X}}}" if not c.isascii() or not c.isprintable() else c for c in chars)


# ----------------------------------------------------------------------------------------------------------
# Text cleaning: Spark built-ins from review_text's rule data + a vectorized pass for entities and NFC.
# ----------------------------------------------------------------------------------------------------------

C1_FROM = "".join(review_text.C1_TO_CP1252)
C1_TO = "".join(review_text.C1_TO_CP1252[c] for c in C1_FROM)
if len(C1_FROM) != len(C1_TO):  # translate() maps one character to one character
    raise RuntimeError("review_text.C1_TO_CP1252 must map each character to exactly one character")
NEEDS_PYTHON_PASS = r"[&]|[^\x{0}-\x{7F}]"  # entities need html.unescape, non-ASCII may need NFC


def _make_unicode_pass(c1_table: dict[str, str], form: str):
    """The vectorized pandas UDF for what Spark has no built-in for: HTML entities (HTML5 rules) and NFC.

    Built as a closure over plain data so that it pickles by value: workers need neither this module nor
    review_text on their path. Same steps, same order as review_text.strip_html's tail + normalize_text's NFC.
    """
    import pandas as pd

    translation = str.maketrans(c1_table)

    def unicode_pass(texts: pd.Series) -> pd.Series:
        def one(text):
            if text is None:
                return None
            if "&" in text:
                text = html.unescape(text).translate(translation)
            return unicodedata.normalize(form, text)

        return texts.map(one)

    unicode_pass.__annotations__ = {"texts": pd.Series, "return": pd.Series}  # real types, not strings
    return F.pandas_udf(unicode_pass, T.StringType())


@functools.cache
def _unicode_pass_udf():
    return _make_unicode_pass(dict(review_text.C1_TO_CP1252), review_text.UNICODE_FORM)


def builtin_clean(text: Column, ascii_only: bool = False) -> Column:
    """C1 punctuation and HTML tags with Spark built-ins (first half of review_text.normalize_text)."""
    if not ascii_only:  # C1 characters are not ASCII
        text = F.translate(text, C1_FROM, C1_TO)
    text = F.regexp_replace(text, java_regex(review_text.BREAK_TAG_PATTERN, ascii_only),
                            review_text.BREAK_TAG_REPLACEMENT)
    return F.regexp_replace(text, java_regex(review_text.OTHER_TAG_PATTERN, ascii_only),
                            review_text.OTHER_TAG_REPLACEMENT)


def finish_clean(text: Column, ascii_only: bool = False) -> Column:
    """Whitespace collapse and trim (last step of review_text.normalize_text)."""
    if ascii_only:  # the ASCII members of the whitespace class, found by Python's re itself
        pattern = _python_matches(review_text.WHITESPACE_PATTERN.removesuffix("+"), True) + "+"
    else:
        pattern = _java_class_of_chars(review_text.WHITESPACE_PATTERN)
    text = F.regexp_replace(text, pattern, review_text.WHITESPACE_REPLACEMENT)
    if review_text.WHITESPACE_REPLACEMENT != " ":
        raise RuntimeError("finish_clean trims with Spark's trim(), which removes spaces only")
    return F.trim(text)


def clean_text(df: DataFrame, source: str, target: str) -> DataFrame:
    """Add ``target`` = review_text.normalize_text(``source``), computed with Spark built-ins where possible.

    Two paths, chosen per row: text that is pure ASCII without ``&`` (about 88 % of IMDb) takes small ASCII-only
    regex classes; the rest takes the exact Unicode classes, then the pandas UDF (entities, NFC), then the
    whitespace rule. The UDF receives null for rows that do not need it, so only those rows' text crosses to
    Python, in one pass (a ``when`` around a UDF would still send every row).
    """
    raw = F.col(source)
    simple = F.coalesce(~raw.rlike(NEEDS_PYTHON_PASS), F.lit(True))
    stage = "_dq_stage"
    df = df.withColumn(stage, F.when(simple, builtin_clean(raw, ascii_only=True)).otherwise(builtin_clean(raw)))
    needs = ~simple & F.coalesce(F.col(stage).rlike(NEEDS_PYTHON_PASS), F.lit(False))
    passed = _unicode_pass_udf()(F.when(needs, F.col(stage)))
    df = df.withColumn(stage, F.when(needs, passed).otherwise(F.col(stage)))
    cleaned = F.when(simple, finish_clean(F.col(stage), ascii_only=True)).otherwise(finish_clean(F.col(stage)))
    return df.withColumn(target, cleaned).drop(stage)


def normalize_label(value: Column) -> Column:
    """1 / 0 / null from review_text's label spellings (trimmed like Python's str.strip, lower-cased)."""
    space = _python_class("s")
    spelled = F.lower(F.regexp_replace(value.cast("string"), f"^{space}+|{space}+$", ""))
    return (F.when(spelled.isin(*sorted(review_text.POSITIVE_LABELS)), F.lit(1))
            .when(spelled.isin(*sorted(review_text.NEGATIVE_LABELS)), F.lit(0))
            .otherwise(F.lit(None).cast("int")))


def is_blank(value: Column) -> Column:
    space = _python_class("s")
    return value.isNull() | (F.regexp_replace(value.cast("string"), f"{space}+", "") == "")


# ----------------------------------------------------------------------------------------------------------
# Reading: one standardized frame whatever the format.
# ----------------------------------------------------------------------------------------------------------

INTERNAL = ("_dq_text_raw", "_dq_label_raw", "_dq_rating_raw", "_dq_key", "_dq_url", "_dq_split_hint",
            "_dq_malformed", "_dq_undecodable")


@dataclass
class RawInput:
    """The standardized frame (original columns + INTERNAL columns) and what was found about the input."""

    df: DataFrame
    input_format: str
    original_columns: list[str]
    roles: dict[str, str | None]
    files: list[str] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)


def _hadoop_path(spark: SparkSession, uri: str):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def _is_hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def list_input(spark: SparkSession, uri: str, limit: int = 100_000) -> tuple[bool, list[str]]:
    """(is_directory, data files) under ``uri``, through Hadoop's FileSystem so local paths and s3:// alike work."""
    try:
        path, fs = _hadoop_path(spark, uri)
        if not fs.exists(path):
            raise InputError(f"input not found: {uri}")
        if fs.getFileStatus(path).isFile():
            return False, [path.toString()]
        files: list[str] = []
        iterator = fs.listFiles(path, True)
        while iterator.hasNext() and len(files) < limit:
            status = iterator.next()
            file_path = status.getPath()
            relative = file_path.toString()[len(fs.makeQualified(path).toString()):].lstrip("/")
            if not any(_is_hidden(part) for part in relative.split("/")):
                files.append(file_path.toString())
        return True, files
    except InputError:
        raise
    except Exception as exc:  # py4j errors carry a Java stack trace: keep the first line only
        raise InputError(f"cannot list input {uri}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _dir_exists(spark: SparkSession, uri: str) -> bool:
    try:
        path, fs = _hadoop_path(spark, uri)
        return fs.exists(path) and fs.getFileStatus(path).isDirectory()
    except Exception:
        return False


def find_aclimdb_root(spark: SparkSession, uri: str) -> str | None:
    """The folder holding ``train/`` or ``test/`` with ``pos``/``neg`` inside: ``uri`` itself or ``uri/aclImdb``."""
    base = uri.rstrip("/")
    for root in (base, base + "/aclImdb"):
        if any(_dir_exists(spark, f"{root}/{s}/{lab}") for s in ACLIMDB_SPLIT_DIRS for lab in ACLIMDB_LABEL_DIRS):
            return root
    return None


def detect_format(files: Sequence[str]) -> tuple[str, list[str], list[str]]:
    """(format, data files, ignored files) from file extensions; mixed or unknown formats are an InputError."""
    if any(re.search(r"\.(tar|tar\.gz|tgz|zip)$", f, re.I) for f in files):
        archives = [f for f in files if re.search(r"\.(tar|tar\.gz|tgz|zip)$", f, re.I)]
        raise InputError(f"archives are not read by the job, extract them first (e.g. tar -xzf): {archives[:3]}")
    by_format: dict[str, list[str]] = {}
    ignored: list[str] = []
    for name in files:
        fmt = next((f for pattern, f in EXTENSION_FORMATS if pattern.search(name)), None)
        if fmt is None:
            ignored.append(name)
        else:
            by_format.setdefault(fmt, []).append(name)
    if not by_format:
        raise InputError(f"no CSV, JSON Lines, Parquet or aclImdb data found; files seen: {list(files)[:5]}")
    if len(by_format) > 1:
        raise InputError(f"mixed input formats {sorted(by_format)}: pass --input_format or one format per folder")
    fmt, chosen = next(iter(by_format.items()))
    return fmt, chosen, ignored


def _files_of_format(files: Sequence[str], fmt: str) -> tuple[list[str], list[str]]:
    pattern = next(p for p, f in EXTENSION_FORMATS if f == fmt)
    chosen = [f for f in files if pattern.search(f)]
    return chosen, [f for f in files if f not in chosen]


def _read_csv(spark: SparkSession, files: list[str]) -> DataFrame:
    reader = (spark.read.option("header", True).option("multiLine", True).option("escape", '"')
              .option("encoding", "UTF-8"))
    columns = reader.csv(files).columns
    if CORRUPT_COLUMN in columns:
        raise InputError(f"the CSV header has a column named {CORRUPT_COLUMN}, which the job reserves")
    schema = T.StructType([T.StructField(c, T.StringType()) for c in columns]
                          + [T.StructField(CORRUPT_COLUMN, T.StringType())])
    return (reader.schema(schema).option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
            .csv(files))


def _read_jsonl(spark: SparkSession, files: list[str]) -> DataFrame:
    # primitivesAsString keeps every value as written (1, 1.0, true) and avoids type conflicts between rows.
    return (spark.read.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
            .option("primitivesAsString", True).option("encoding", "UTF-8").json(files))


def _standardize_table(spark: SparkSession, df: DataFrame, fmt: str) -> tuple[DataFrame, list[str], dict]:
    """Map a tabular frame's columns to the INTERNAL roles; an input without text or label column is an error."""
    original = [c for c in df.columns]
    data_columns = [c for c in original if c != CORRUPT_COLUMN]
    if not data_columns:
        raise InputError(f"no {fmt} record could be parsed: every row is malformed")
    roles = {
        "text": find_column(data_columns, review_text.TEXT_COLUMN_CANDIDATES),
        "label": find_column(data_columns, review_text.LABEL_COLUMN_CANDIDATES),
        "rating": find_column(data_columns, RATING_COLUMN_CANDIDATES),
        "url": find_column(data_columns, URL_COLUMN_CANDIDATES),
        "split": find_column(data_columns, SPLIT_COLUMN_CANDIDATES),
    }
    if roles["text"] is None:
        raise InputError(f"no text column: looked for {list(review_text.TEXT_COLUMN_CANDIDATES)} "
                         f"(any case); columns found: {data_columns}")
    if roles["label"] is None:
        raise InputError(f"no label column: looked for {list(review_text.LABEL_COLUMN_CANDIDATES)} "
                         f"(any case); columns found: {data_columns}. Unlabeled data cannot train the model.")
    text_type = df.schema[roles["text"]].dataType
    if not isinstance(text_type, T.StringType):
        raise InputError(f"text column {roles['text']!r} holds {text_type.simpleString()}, not text")
    # A gzip file is one partition: spread the rows over the cores before the (CPU-bound) cleaning. Caching
    # also lets Spark query the corrupt-record column alone.
    parallelism = spark.sparkContext.defaultParallelism
    if df.rdd.getNumPartitions() < parallelism:
        df = df.repartition(parallelism * 2)
    df = df.persist(StorageLevel.MEMORY_AND_DISK)
    roles["review_id"] = _unique_key_column(df, data_columns)

    def col(role: str) -> Column:
        return F.col(f"`{roles[role]}`") if roles.get(role) else F.lit(None)

    text = F.col(f"`{roles['text']}`")
    split_hint = F.lit(None).cast("string")
    if roles["split"]:
        spelled = F.lower(F.trim(col("split").cast("string")))
        split_hint = F.when(spelled.isin(*TEST_SPLIT_SPELLINGS), F.lit("test"))
    elif roles["review_id"]:
        split_hint = F.when(col("review_id").cast("string").rlike(r"(^|/)test/"), F.lit("test"))
    malformed = F.col(CORRUPT_COLUMN).isNotNull() if CORRUPT_COLUMN in original else F.lit(False)
    std = df.select(
        *[F.col(f"`{c}`") for c in original],
        text.alias("_dq_text_raw"),
        col("label").cast("string").alias("_dq_label_raw"),
        col("rating").cast("string").alias("_dq_rating_raw"),
        col("review_id").cast("string").alias("_dq_key"),
        col("url").cast("string").alias("_dq_url"),
        split_hint.alias("_dq_split_hint"),
        malformed.alias("_dq_malformed"),
        # A reader replaces undecodable bytes with U+FFFD; the real data has none, so it marks broken encoding.
        F.coalesce(text.contains("\ufffd"), F.lit(False)).alias("_dq_undecodable"),
    )
    return std, original, roles


def _unique_key_column(df: DataFrame, columns: list[str]) -> str | None:
    """The first KEY_COLUMN_CANDIDATES column that has a value on every row and no repeated value."""
    present = [c for c in (find_column(columns, [k]) for k in KEY_COLUMN_CANDIDATES) if c]
    if not present:
        return None
    aggs = [F.count(F.lit(1)).alias("_rows")]
    for i, c in enumerate(present):
        aggs += [F.count(F.col(f"`{c}`")).alias(f"n{i}"), F.countDistinct(F.col(f"`{c}`")).alias(f"d{i}")]
    row = df.filter(F.col(CORRUPT_COLUMN).isNull() if CORRUPT_COLUMN in df.columns else F.lit(True)).agg(*aggs).first()
    for i, c in enumerate(present):
        if row[f"n{i}"] == row["_rows"] == row[f"d{i}"]:
            return c
    return None


def _read_aclimdb(spark: SparkSession, root: str) -> tuple[DataFrame, list[str], dict, list[str]]:
    """The aclImdb tree: one row per review file; label from the folder, id and rating from the file name.

    Files are listed by Spark's file index and their text read with the wholetext text source (which
    gunzips ``.gz``); the two are joined on the relative path so an empty file, which Spark's file sources
    skip, still counts as a row (and is quarantined as empty_text). Bytes that are not
    UTF-8 are detected by a decode/encode round trip. ``urls_pos.txt``/``urls_neg.txt`` (line = id) give the
    movie url when present.
    """
    dirs = [f"{root}/{s}/{lab}" for s in ACLIMDB_SPLIT_DIRS for lab in ACLIMDB_LABEL_DIRS
            if _dir_exists(spark, f"{root}/{s}/{lab}")]
    if not dirs:
        raise InputError(f"no aclImdb folders {{train,test}}/{{pos,neg}} under {root}")
    tail = F.regexp_extract(F.col("_path"), ACLIMDB_TAIL, 1)
    reader = spark.read.text(dirs, wholetext=True)
    listed = reader.inputFiles()  # Spark's own listing, empty files included (its scans skip them)
    listing = (spark.createDataFrame([(p,) for p in listed], "_path string")
               .withColumn("path", F.regexp_extract(F.col("_path"), ACLIMDB_TAIL, 0)).withColumn("_tail", tail)
               .withColumn("_gz", F.col("_path").endswith(".gz")).drop("_path"))
    texts = (reader.select(F.input_file_name().alias("_path"), "value")
             .withColumn("_tail", tail).withColumn("_gz", F.col("_path").endswith(".gz")).drop("_path"))
    # the gz flag keeps "x.txt" and "x.txt.gz" apart if both exist
    files = listing.join(texts, ["_tail", "_gz"], "left")
    raw_bytes = F.coalesce(F.col("value").cast("binary"), F.lit(b"").cast("binary"))
    decoded = F.decode(raw_bytes, "UTF-8")
    name = F.regexp_extract(F.col("_tail"), r"[^/]+$", 0)
    split_dir = F.regexp_extract(F.col("_tail"), r"^(train|test)/", 1)
    label_dir = F.regexp_extract(F.col("_tail"), r"^(?:train|test)/(pos|neg)/", 1)
    file_id = F.regexp_extract(name, ACLIMDB_NAME, 1)
    rating = F.regexp_extract(name, ACLIMDB_NAME, 2)
    files = files.select(
        F.col("path"), decoded.alias("text"),
        split_dir.alias("_split_dir"), label_dir.alias("_label_dir"), file_id.alias("_file_id"),
        rating.alias("_rating"), (F.encode(decoded, "UTF-8") != raw_bytes).alias("_undecodable"),
        F.col("_tail"))
    urls = _aclimdb_urls(spark, root)
    if urls is not None:
        files = files.join(F.broadcast(urls), ["_split_dir", "_label_dir", "_file_id"], "left")
    else:
        files = files.withColumn("_url", F.lit(None).cast("string"))
    std = files.select(
        "path", "text",
        F.col("text").alias("_dq_text_raw"),
        F.col("_label_dir").alias("_dq_label_raw"),
        F.when(F.col("_rating") != "", F.col("_rating")).alias("_dq_rating_raw"),
        F.col("_tail").alias("_dq_key"),
        F.col("_url").alias("_dq_url"),
        F.when(F.col("_split_dir") == "test", F.lit("test")).alias("_dq_split_hint"),
        (F.col("_file_id") == "").alias("_dq_malformed"),  # a file whose name is not <id>_<rating>.txt
        F.col("_undecodable").alias("_dq_undecodable"),
    )
    roles = {"text": "file content", "label": "folder pos/neg", "rating": "file name <id>_<rating>.txt",
             "review_id": "relative path", "url": "urls_{pos,neg}.txt" if urls is not None else None,
             "split": "folder train/test"}
    return std, ["path", "text"], roles, listed


def _aclimdb_urls(spark: SparkSession, root: str) -> DataFrame | None:
    """(split dir, label dir, id, url) from ``<root>/<split>/urls_<pos|neg>.txt``, where line n is id n."""
    frames = []
    for split_dir in ACLIMDB_SPLIT_DIRS:
        for label_dir in ACLIMDB_LABEL_DIRS:
            uri = f"{root}/{split_dir}/urls_{label_dir}.txt"
            try:
                path, fs = _hadoop_path(spark, uri)
                if not fs.exists(path):
                    continue
            except Exception:
                continue
            lines = spark.read.text(uri, wholetext=True).select(
                F.posexplode(F.split(F.col("value"), "\r?\n")).alias("_pos", "_url"))
            frames.append(lines.filter(F.col("_url") != "").select(
                F.lit(split_dir).alias("_split_dir"), F.lit(label_dir).alias("_label_dir"),
                F.col("_pos").cast("string").alias("_file_id"), F.col("_url")))
    if not frames:
        return None
    return functools.reduce(DataFrame.unionByName, frames)


def read_input(spark: SparkSession, uri: str, input_format: str = "auto") -> RawInput:
    """Read ``uri`` (a file or a folder; local path or s3://) into the standardized frame."""
    fmt = input_format
    root = None
    if fmt in ("auto", "aclimdb") and _dir_exists(spark, uri):
        root = find_aclimdb_root(spark, uri)  # checked first: a whole tree is not worth listing file by file
        if root is not None:
            fmt = "aclimdb"
    if fmt == "aclimdb" and root is None:
        raise InputError(f"--input_format aclimdb: no {{train,test}}/{{pos,neg}} folders under {uri}")
    files: list[str] = []
    ignored: list[str] = []
    if fmt != "aclimdb":
        _, listed = list_input(spark, uri)
        if fmt == "auto":
            fmt, files, ignored = detect_format(listed)
        else:
            files, ignored = _files_of_format(listed, fmt)
            if not files:
                raise InputError(f"--input_format {fmt}: no matching files under {uri}")
    try:
        if fmt == "aclimdb":
            std, original, roles, files = _read_aclimdb(spark, root)
        elif fmt == "csv":
            std, original, roles = _standardize_table(spark, _read_csv(spark, files), fmt)
        elif fmt == "jsonl":
            std, original, roles = _standardize_table(spark, _read_jsonl(spark, files), fmt)
        else:
            std, original, roles = _standardize_table(spark, spark.read.parquet(*files), fmt)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"cannot read {uri} as {fmt}: {_first_line(exc)}") from None
    return RawInput(std, fmt, original, roles, files, ignored)


# ----------------------------------------------------------------------------------------------------------
# Classification, de-duplication, splits
# ----------------------------------------------------------------------------------------------------------


def classify(std: DataFrame, opts: JobOptions) -> DataFrame:
    """Add cleaned text, label, rating, review_id, rule-hit flags and the first reject reason (or null)."""
    df = clean_text(std, "_dq_text_raw", "_dq_text")
    raw = F.col("_dq_text_raw")
    text = F.col("_dq_text")
    rating_number = F.expr("try_cast(_dq_rating_raw as double)")
    rating_ok = rating_number.isNotNull() & (rating_number == F.floor(rating_number)) & (F.abs(rating_number) < 1e9)
    length = F.length(text)
    reason = (
        F.when(F.col("_dq_malformed"), "malformed_record")
        .when(F.col("_dq_undecodable"), "undecodable")
        .when(text.isNull() | (text == ""), "empty_text")
        .when(is_blank(F.col("_dq_label_raw")), "missing_label")
        .when(F.col("_dq_label").isNull(), "unknown_label")
        .when(~is_blank(F.col("_dq_rating_raw")) & ~rating_ok, "invalid_rating")
        .when(length < opts.min_text_chars, "too_short")
        .when(length > opts.max_text_chars, "too_long")
    )
    text_sha = F.sha2(F.coalesce(text, F.lit("")), 256)
    return (df
            .withColumn("_dq_label", normalize_label(F.col("_dq_label_raw")))
            .withColumn("_dq_rating", F.when(rating_ok, rating_number.cast("int")))
            .withColumn("_dq_text_sha", text_sha)
            .withColumn("review_id", F.coalesce(F.col("_dq_key"), text_sha))
            .withColumn("_dq_reason", reason)
            .withColumn("_dq_hit_break", F.coalesce(F.lower(raw).contains("<br"), F.lit(False)))
            .withColumn("_dq_hit_c1", F.coalesce(raw.rlike(f"[{C1_FROM}]"), F.lit(False)))
            .withColumn("_dq_hit_entity", F.coalesce(raw.contains("&"), F.lit(False)))
            .withColumn("_dq_changed", F.coalesce(raw != text, F.lit(False))))


def deduplicate(df: DataFrame) -> DataFrame:
    """Add ``_dq_status`` (kept | duplicate | quarantined), ``_dq_kept_id`` and the conflicting_duplicate reason.

    Rows without a reject reason are grouped by their cleaned text. If the group's labels disagree, every copy
    goes to quarantine (nobody can tell which label is right). Otherwise one representative is kept: a copy the
    input marks as test first (the input's evaluation set stays as complete as possible), then the smallest
    review_id; the others are counted as collapsed duplicates.
    """
    valid = F.col("_dq_reason").isNull()
    group = Window.partitionBy(valid, "_dq_text_sha")
    ordered = group.orderBy(F.col("_dq_split_hint").isNull(), "review_id")
    conflicting = valid & (F.min("_dq_label").over(group) != F.max("_dq_label").over(group))
    df = (df.withColumn("_dq_reason", F.when(conflicting, F.lit("conflicting_duplicate")).otherwise(F.col("_dq_reason")))
          .withColumn("_dq_rank", F.row_number().over(ordered))
          .withColumn("_dq_kept_id", F.first("review_id").over(ordered)))
    status = (F.when(F.col("_dq_reason").isNotNull(), "quarantined")
              .when(F.col("_dq_rank") == 1, "kept").otherwise("duplicate"))
    return df.withColumn("_dq_status", status).drop("_dq_rank")


def assign_splits(df: DataFrame, validation_share: float, seed: int) -> DataFrame:
    """Add ``split``: test where the input says so, else train/validation by a seeded hash of the group.

    The group is the movie url when there is one (a movie's reviews stay on one side), else the text itself.
    Stratified by label: groups are ranked by hash within their majority label and taken into validation until
    that label's share is reached (the group whose midpoint crosses the target decides), so each class gets
    ~validation_share of its rows even with a few large groups. Deterministic for a seed, whatever the
    partitioning. Only kept rows get a split.
    """
    kept = F.col("_dq_status") == "kept"
    group_key = F.coalesce(F.concat(F.lit("url:"), F.col("_dq_url")), F.concat(F.lit("text:"), F.col("_dq_text_sha")))
    df = df.withColumn("_dq_group", F.when(kept & F.col("_dq_split_hint").isNull(), group_key))
    groups = (df.filter(F.col("_dq_group").isNotNull()).groupBy("_dq_group")
              .agg(F.count(F.lit(1)).alias("_n"), F.sum("_dq_label").alias("_pos"))
              .withColumn("_major", F.when(F.col("_pos") * 2 >= F.col("_n"), 1).otherwise(0))
              .withColumn("_hash", F.xxhash64(F.lit(seed), F.col("_dq_group"))))
    by_label = Window.partitionBy("_major")
    ranked = by_label.orderBy("_hash", "_dq_group").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    groups = (groups.withColumn("_cum", F.sum("_n").over(ranked))
              .withColumn("_total", F.sum("_n").over(by_label))
              .withColumn("_dq_assigned",
                          F.when(F.col("_cum") - F.col("_n") / 2.0 < F.col("_total") * F.lit(float(validation_share)),
                                 "validation").otherwise("train"))
              .select("_dq_group", "_dq_assigned"))
    df = df.join(groups, "_dq_group", "left")
    split = F.when(~kept, F.lit(None)).when(F.col("_dq_split_hint") == "test", "test").otherwise(F.col("_dq_assigned"))
    return df.withColumn("split", split.cast("string")).drop("_dq_group", "_dq_assigned")


def prepare(raw: RawInput, opts: JobOptions) -> DataFrame:
    """Standardized frame -> every row classified (status, reason, split), ready to be written and measured."""
    return assign_splits(deduplicate(classify(raw.df, opts)), opts.validation_share, opts.seed)


# ----------------------------------------------------------------------------------------------------------
# Report and gate
# ----------------------------------------------------------------------------------------------------------


def measure(df: DataFrame) -> dict[str, Any]:
    """All figures of the report with two aggregations over the cached frame (only counts reach the driver).

    Leakage is measured with distinct counts instead of joins: kept rows minus distinct kept texts is the number
    of texts held twice (so none can be in two splits when it is 0), and distinct urls per side minus distinct
    urls overall is the number of movies on both sides.
    """
    counts = (df.groupBy("_dq_status", "_dq_reason", "split", "_dq_label")
              .agg(F.count(F.lit(1)).alias("n"),
                   F.sum(F.col("_dq_hit_break").cast("int")).alias("break"),
                   F.sum(F.col("_dq_hit_c1").cast("int")).alias("c1"),
                   F.sum(F.col("_dq_hit_entity").cast("int")).alias("entity"),
                   F.sum(F.col("_dq_changed").cast("int")).alias("changed"))
              .collect())
    kept = F.col("_dq_status") == "kept"
    text = F.when(kept, F.col("_dq_text"))
    chars = F.length(text)
    words = chars - F.length(F.regexp_replace(text, " ", "")) + 1
    url = F.when(kept, F.col("_dq_url"))
    split = F.col("split")

    def distinct(value: Column) -> Column:
        return F.countDistinct(value)

    row = df.agg(
        F.min(chars).alias("cmin"), F.percentile(chars, 0.5).alias("cmed"), F.avg(chars).alias("cmean"),
        F.max(chars).alias("cmax"), F.min(words).alias("wmin"), F.percentile(words, 0.5).alias("wmed"),
        F.avg(words).alias("wmean"), F.max(words).alias("wmax"),
        F.sum(kept.cast("int")).alias("kept"), distinct(F.when(kept, F.col("_dq_text_sha"))).alias("kept_texts"),
        distinct(F.when(split == "train", url)).alias("u_train"),
        distinct(F.when(split == "validation", url)).alias("u_validation"),
        distinct(F.when(split.isin("train", "validation"), url)).alias("u_train_validation"),
        distinct(F.when(split == "test", url)).alias("u_test"),
        distinct(F.when(split != "test", url)).alias("u_not_test"),
        distinct(url).alias("u_all"),
        distinct(F.when(F.col("_dq_status") == "duplicate", F.col("_dq_kept_id"))).alias("duplicate_groups"),
    ).first().asDict()
    return {
        "counts": [r.asDict() for r in counts],
        "stats": row,
        "leaked_texts": (row["kept"] or 0) - row["kept_texts"],
        "leaked_groups": row["u_train"] + row["u_validation"] - row["u_train_validation"],
        "urls_shared_with_test": row["u_test"] + row["u_not_test"] - row["u_all"],
        "duplicate_groups": row["duplicate_groups"],
    }


def _share(part: float, whole: float) -> float:
    return round(part / whole, 6) if whole else 0.0


def build_report(figures: dict[str, Any], raw: RawInput, opts: JobOptions, outputs: dict[str, str]) -> dict[str, Any]:
    """The data_quality.json document (ARCHITECTURE.md) with its checks; pure function of the measured figures."""
    rows = figures["counts"]
    total = lambda pred: sum(r["n"] for r in rows if pred(r))  # noqa: E731
    read = total(lambda r: True)
    kept = total(lambda r: r["_dq_status"] == "kept")
    duplicates = total(lambda r: r["_dq_status"] == "duplicate")
    quarantined = total(lambda r: r["_dq_status"] == "quarantined")
    reasons = {reason: total(lambda r, reason=reason: r["_dq_reason"] == reason) for reason in REJECT_REASONS}
    splits: dict[str, dict[str, Any]] = {}
    for split in SPLITS:
        pos = total(lambda r, s=split: r["_dq_status"] == "kept" and r["split"] == s and r["_dq_label"] == 1)
        neg = total(lambda r, s=split: r["_dq_status"] == "kept" and r["split"] == s and r["_dq_label"] == 0)
        if split == "test" and pos + neg == 0:
            continue
        splits[split] = {"rows": pos + neg, "positive": pos, "negative": neg,
                         "positive_share": _share(pos, pos + neg), "negative_share": _share(neg, pos + neg)}
    overall_pos = sum(s["positive"] for s in splits.values())
    stats = figures["stats"]

    def rounded(value, digits=2):
        return None if value is None else round(float(value), digits)

    checks: list[dict[str, Any]] = []

    def check(name: str, value, threshold, passed: bool, **extra):
        checks.append({"name": name, "threshold": threshold, "value": value, "passed": bool(passed), **extra})

    check("accounting_identity", read - (kept + duplicates + quarantined), 0, read == kept + duplicates + quarantined,
          description="rows read - (kept + duplicates collapsed + quarantined)")
    check("min_rows", kept, opts.min_rows, kept >= opts.min_rows, description="rows kept for training and evaluation")
    check("max_quarantine_share", _share(quarantined, read), opts.max_quarantine_share,
          read > 0 and _share(quarantined, read) <= opts.max_quarantine_share)
    check("max_duplicate_share", _share(duplicates, read), opts.max_duplicate_share,
          _share(duplicates, read) <= opts.max_duplicate_share)
    lo, hi = opts.min_class_share, 1 - opts.min_class_share
    overall_share = _share(overall_pos, kept)
    check("min_class_share", round(min(overall_share, 1 - overall_share), 6) if kept else 0.0, lo,
          kept > 0 and lo <= overall_share <= hi, description="smaller class share over all kept rows")
    for split, figs in splits.items():
        if split == "validation" and opts.validation_share == 0:
            continue
        share = figs["positive_share"]
        value = round(min(share, 1 - share), 6) if figs["rows"] else 0.0
        check(f"min_class_share:{split}", value, lo, figs["rows"] > 0 and lo <= share <= hi,
              description=f"smaller class share in {split}")
    check("no_leakage", figures["leaked_texts"], 0, figures["leaked_texts"] == 0,
          description="kept rows whose cleaned text another kept row has (0 = no text in two splits)")
    if raw.roles.get("url"):
        check("no_group_leakage", figures["leaked_groups"], 0, figures["leaked_groups"] == 0,
              description="movie urls with reviews in both train and validation")
    passed = all(c["passed"] for c in checks)
    cleaning = {
        "rows_changed": total_hits(rows, "changed"),
        "rows_with_br_tags": total_hits(rows, "break"),
        "rows_with_c1_controls": total_hits(rows, "c1"),
        "rows_with_ampersand": total_hits(rows, "entity"),
    }
    return {
        "run_id": opts.run_id,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "passed": passed,
        "input": {"uri": opts.input_uri, "format": raw.input_format, "files": len(raw.files),
                  "ignored_files": len(raw.ignored_files), "ignored_examples": raw.ignored_files[:10],
                  "columns": raw.original_columns, "roles": raw.roles},
        "outputs": outputs,
        "thresholds": opts.thresholds(),
        "counts": {"read": read, "kept": kept, "duplicates_collapsed": duplicates, "quarantined": quarantined},
        "quarantine_reasons": reasons,
        "duplicates": {"groups": figures["duplicate_groups"], "copies_collapsed": duplicates},
        "splits": splits,
        "text_length": {
            "chars": {"min": stats.get("cmin"), "median": rounded(stats.get("cmed"), 1),
                      "mean": rounded(stats.get("cmean")), "max": stats.get("cmax")},
            "words": {"min": stats.get("wmin"), "median": rounded(stats.get("wmed"), 1),
                      "mean": rounded(stats.get("wmean")), "max": stats.get("wmax")},
        },
        "cleaning": cleaning,
        "informational": {"movie_urls_shared_with_test": figures["urls_shared_with_test"]},
        "checks": checks,
    }


def total_hits(rows: list[dict[str, Any]], key: str) -> int:
    return int(sum(r[key] or 0 for r in rows))


def failure_message(report: dict[str, Any]) -> str:
    """One line naming every failed check with its value and threshold."""
    failed = [f"{c['name']} (value {c['value']}, threshold {c['threshold']})" for c in report["checks"] if not c["passed"]]
    return (f"data-quality gate refused run {report['run_id']}: " + "; ".join(failed)
            + f". Report: {report['outputs'].get('report')}")


# ----------------------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------------------


def output_uris(curated_uri: str, run_id: str) -> dict[str, str]:
    base = curated_uri.rstrip("/")
    return {
        "curated": f"{base}/curated/{run_id}",
        "table": f"{base}/tables/reviews/run_id={run_id}",
        "quarantine": f"{base}/quarantine/{run_id}",
        "duplicates": f"{base}/reports/{run_id}/duplicates",
        "report": f"{base}/reports/{run_id}/data_quality.json",
    }


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    """Write one small text object (the report) through Hadoop's FileSystem: local paths and s3:// alike."""
    path, fs = _hadoop_path(spark, uri)
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def delete_path(spark: SparkSession, uri: str) -> None:
    path, fs = _hadoop_path(spark, uri)
    if fs.exists(path):
        fs.delete(path, True)


def _files_for(rows: int, rows_per_file: int = 200_000) -> int:
    return max(1, math.ceil(rows / rows_per_file))


def write_outputs(spark: SparkSession, df: DataFrame, raw: RawInput, report: dict[str, Any], uris: dict[str, str]) -> None:
    """Curated channels, table partitions, quarantine and duplicates; only under this run's own prefixes."""
    spark.sparkContext._jsc.hadoopConfiguration().set("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
    record = df.filter(F.col("_dq_status") == "kept").select(
        "review_id", F.col("_dq_text").alias("text"), F.col("_dq_label").alias("label"),
        F.col("_dq_rating").alias("rating"), "split")
    delete_path(spark, uris["curated"])
    for split, figures in report["splits"].items():
        part = record.filter(F.col("split") == split)
        (part.repartition(_files_for(figures["rows"]), "review_id").sortWithinPartitions("review_id")
         .write.mode("overwrite").option("compression", "gzip").option("ignoreNullFields", False)
         .json(f"{uris['curated']}/{split}"))
    (record.repartition("split").sortWithinPartitions("review_id").write.mode("overwrite")
     .partitionBy("split").parquet(uris["table"]))
    quarantine = df.filter(F.col("_dq_status") == "quarantined").select(
        *[F.col(f"`{c}`") for c in raw.original_columns],
        F.col("_dq_reason").alias("reject_reason"), F.lit(report["run_id"]).alias("run_id"))
    (quarantine.coalesce(1).write.mode("overwrite").option("compression", "gzip").option("ignoreNullFields", False)
     .json(uris["quarantine"]))
    duplicates = df.filter(F.col("_dq_status") == "duplicate").select(
        "review_id", F.col("_dq_kept_id").alias("kept_review_id"))
    duplicates.coalesce(1).write.mode("overwrite").option("compression", "gzip").json(uris["duplicates"])


# ----------------------------------------------------------------------------------------------------------
# The job
# ----------------------------------------------------------------------------------------------------------


def run_job(spark: SparkSession, options: Mapping[str, str]) -> dict[str, Any]:
    """Clean, split, write and gate one run. Returns the report; raises DataQualityError after writing it."""
    opts = parse_options(options)
    raw = read_input(spark, opts.input_uri, opts.input_format)
    uris = output_uris(opts.curated_uri, opts.run_id)
    prepared = prepare(raw, opts).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        figures = measure(prepared)
        report = build_report(figures, raw, opts, uris)
        write_outputs(spark, prepared, raw, report, uris)
        write_text(spark, uris["report"], json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    finally:
        prepared.unpersist()
        raw.df.unpersist()
    if not report["passed"]:
        raise DataQualityError(failure_message(report), report)
    return report


def local_spark(app_name: str = "clean_reviews", shuffle_partitions: int = 64,
                extra_conf: Mapping[str, str] | None = None) -> SparkSession:
    """A local SparkSession for laptop runs: no UI, workers on this Python, adaptive shuffle partitions.

    64 shuffle partitions, which adaptive query execution (on by default in Spark 3.5) coalesces for small inputs:
    a 25k-row run ends up with a few partitions, while a 1M-row run (about 3 GB of raw and cleaned text) keeps
    partitions small enough for the local driver's heap. Cached column batches of 2,000 rows instead of 10,000:
    a batch holds the raw and the cleaned text of every row, and at 1M rows the default batches ran out of a 4 GB
    heap while the job persisted its classified frame. ``extra_conf`` adds settings (the offline runner binds to
    loopback).
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (SparkSession.builder.master(os.environ.get("DS_ON_AWS_SPARK_MASTER", "local[*]")).appName(app_name)
               .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
               .config("spark.sql.adaptive.enabled", "true")
               .config("spark.sql.adaptive.coalescePartitions.enabled", "true")
               .config("spark.sql.inMemoryColumnarStorage.batchSize", "2000")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.memory", os.environ.get("DS_ON_AWS_SPARK_DRIVER_MEMORY", "4g")))
    for key, value in (extra_conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _parse_local_args(argv: Sequence[str]) -> dict[str, str]:
    parser = argparse.ArgumentParser(prog="clean_reviews.py", description=__doc__.split("\n")[0])
    for name in REQUIRED_OPTIONS:
        parser.add_argument(f"--{name}", required=True)
    for name in OPTIONAL_OPTIONS:
        parser.add_argument(f"--{name}")
    args = vars(parser.parse_args(argv))
    return {k: v for k, v in args.items() if v is not None}


def _run_in_glue(argv: Sequence[str]) -> None:
    """The Glue edge: resolve arguments, start the Glue job, run, commit. Errors propagate so the job run fails
    with the one-line message as its ErrorMessage (which Step Functions passes on as the cause)."""
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions
    from pyspark.context import SparkContext

    wanted = ["JOB_NAME", *REQUIRED_OPTIONS] + [o for o in OPTIONAL_OPTIONS if f"--{o}" in argv]
    args = getResolvedOptions(list(argv), wanted)
    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)
    report = run_job(glue_context.spark_session, {k: v for k, v in args.items() if k in wanted and k != "JOB_NAME"})
    print(json.dumps({"run_id": report["run_id"], "passed": report["passed"], "counts": report["counts"]}))
    job.commit()


def main(argv: Sequence[str] | None = None) -> int:
    """Glue when ``--JOB_NAME`` is among the arguments (Glue always passes it), else a local run."""
    argv = list(sys.argv if argv is None else argv)
    if "--JOB_NAME" in argv:
        _run_in_glue(argv)
        return 0
    options = _parse_local_args(argv[1:])
    try:
        spark = local_spark()
        report = run_job(spark, options)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except DataQualityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATA_QUALITY
    print(json.dumps({"run_id": report["run_id"], "passed": report["passed"], "counts": report["counts"],
                      "splits": report["splits"], "report": report["outputs"]["report"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
