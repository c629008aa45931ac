"""Reading: one standardized frame whatever the format (CSV, JSON Lines, Parquet, the aclImdb tree; plain or gzip).

:func:`read_input` detects the format, finds the text/label/rating/id/url/split columns by their common spellings
and returns the original columns plus the INTERNAL ``_dq_*`` columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline_contracts import TEST
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from review_cleaning.aclimdb import find_aclimdb_root, read_aclimdb
from review_cleaning.columns import (
    CORRUPT_COLUMN,
    KEY_COLUMN_CANDIDATES,
    LABEL_COLUMN_CANDIDATES,
    RATING_COLUMN_CANDIDATES,
    SPLIT_COLUMN_CANDIDATES,
    TEST_SPLIT_SPELLINGS,
    TEXT_COLUMN_CANDIDATES,
    URL_COLUMN_CANDIDATES,
    find_column,
)
from review_cleaning.errors import InputError
from review_cleaning.filesystem import dir_exists, first_line, list_input
from review_cleaning.formats import detect_format, files_of_format
from review_cleaning.records import decode_latin1_field


@dataclass
class RawInput:
    """The standardized frame (original columns + INTERNAL columns) and what was found about the input."""

    df: DataFrame
    input_format: str
    original_columns: list[str]
    roles: dict[str, str | None]
    files: list[str] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)
    latin1: bool = False  # the string columns hold bytes read as Latin-1: the cleaning decodes them (records.py)
    key_candidates: list[str] = field(default_factory=list)  # decided on the classified rows (classification.py)
    # The original column that ``_dq_text_raw`` copies, when it is one: the Python pass then reads the text from it
    # and the texts travel to Python once, not twice (classification.classify).
    text_column: str | None = None


def read_input(spark: SparkSession, uri: str, input_format: str = "auto") -> RawInput:
    """Read ``uri`` (a file or a folder; local path or s3://) into the standardized frame."""
    fmt = input_format
    root = None
    if fmt in ("auto", "aclimdb") and dir_exists(spark, uri):
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
            files, ignored = files_of_format(listed, fmt)
            if not files:
                raise InputError(f"--input_format {fmt}: no matching files under {uri}")
    try:
        if fmt == "aclimdb":
            std, original, roles, files = read_aclimdb(spark, root)
        else:
            table = (_read_csv(spark, files) if fmt == "csv" else _read_jsonl(spark, files) if fmt == "jsonl"
                     else spark.read.parquet(*files))
            std, original, roles = standardize_table(spark, table, fmt)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"cannot read {uri} as {fmt}: {first_line(exc)}") from None
    candidates = [] if "review_id" in roles else key_candidates(original)
    text_column = "text" if fmt == "aclimdb" else roles["text"]
    return RawInput(std, fmt, original, roles, files, ignored, latin1=fmt == "csv", key_candidates=candidates,
                    text_column=text_column)


def _read_csv(spark: SparkSession, files: list[str]) -> DataFrame:
    """CSV read as Latin-1, which maps every byte to one character: nothing is lost or replaced at reading, and the
    cleaning decodes each field as UTF-8, with Windows-1252 for rows exported in it (records.decode_latin1_field).
    Quotes, commas and line breaks are ASCII, which no UTF-8 sequence contains, so the parse is the same."""
    reader = (spark.read.option("header", True).option("multiLine", True).option("escape", '"')
              .option("encoding", "ISO-8859-1"))
    columns = [decode_latin1_field(c)[0].removeprefix("\ufeff") for c in reader.csv(files).columns]  # UTF-8 BOM
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


def table_roles(data_columns: list[str]) -> dict[str, str | None]:
    """The column of each role (review_id aside, which needs the data); no text column is an error."""
    roles = {
        "text": find_column(data_columns, TEXT_COLUMN_CANDIDATES),
        "label": find_column(data_columns, LABEL_COLUMN_CANDIDATES),
        "rating": find_column(data_columns, RATING_COLUMN_CANDIDATES),
        "url": find_column(data_columns, URL_COLUMN_CANDIDATES),
        "split": find_column(data_columns, SPLIT_COLUMN_CANDIDATES),
    }
    if roles["text"] is None:
        raise InputError(f"no text column: looked for {list(TEXT_COLUMN_CANDIDATES)} "
                         f"(any case); columns found: {data_columns}")
    return roles


def require_label(raw: RawInput) -> None:
    """Training needs a label column (scoring does not)."""
    if raw.roles.get("label") is None:
        columns = [c for c in raw.original_columns if c != CORRUPT_COLUMN]
        raise InputError(f"no label column: looked for {list(LABEL_COLUMN_CANDIDATES)} "
                         f"(any case); columns found: {columns}. Unlabeled data cannot train the model; "
                         "to score it, run with --mode score.")


def standardize_table(spark: SparkSession, df: DataFrame, fmt: str) -> tuple[DataFrame, list[str], dict]:
    """Map a tabular frame's columns to the INTERNAL roles; an input without a text column is an error.

    The review_id role (a unique key column) needs the data: it is decided on the classified rows, whose cache
    holds every original column (classification.choose_key), so the input is read once."""
    original = [c for c in df.columns]
    data_columns = [c for c in original if c != CORRUPT_COLUMN]
    if not data_columns:
        raise InputError(f"no {fmt} record could be parsed: every row is malformed")
    roles = table_roles(data_columns)
    text_type = df.schema[roles["text"]].dataType
    if not isinstance(text_type, T.StringType):
        raise InputError(f"text column {roles['text']!r} holds {text_type.simpleString()}, not text")
    # A gzip file is one partition: spread the rows over the cores before the (CPU-bound) cleaning. Caching
    # also lets Spark query the corrupt-record column alone.
    parallelism = spark.sparkContext.defaultParallelism
    if df.rdd.getNumPartitions() < parallelism:
        df = df.repartition(parallelism * 2)
    return _standardized(df, original, roles), original, roles


def _standardized(df: DataFrame, original: list[str], roles: dict[str, str | None]) -> DataFrame:
    """The original columns plus the INTERNAL columns, taken from the role columns (null where a role is absent)."""

    def col(role: str) -> Column:
        return F.col(f"`{roles[role]}`") if roles.get(role) else F.lit(None)

    text = F.col(f"`{roles['text']}`")
    split_hint = F.lit(None).cast("string")
    if roles["split"]:
        spelled = F.lower(F.trim(col("split").cast("string")))
        split_hint = F.when(spelled.isin(*TEST_SPLIT_SPELLINGS), F.lit(TEST))
    malformed = F.col(CORRUPT_COLUMN).isNotNull() if CORRUPT_COLUMN in original else F.lit(False)
    return df.select(
        *[F.col(f"`{c}`") for c in original],
        text.alias("_dq_text_raw"),
        col("label").cast("string").alias("_dq_label_raw"),
        col("rating").cast("string").alias("_dq_rating_raw"),
        col("review_id").cast("string").alias("_dq_key"),
        col("url").cast("string").alias("_dq_url"),
        split_hint.alias("_dq_split_hint"),
        malformed.alias("_dq_malformed"),
        # Bytes a reader could not decode: none that the tabular readers can tell. A reader that replaced them put
        # U+FFFD in the text, which the Python pass looks for in the raw text (records.classify_columns): a search
        # of every text in the JVM cost as much again.
        F.lit(False).alias("_dq_undecodable"),
    )


def key_candidates(columns: list[str]) -> list[str]:
    """The KEY_COLUMN_CANDIDATES columns present, in the candidates' order (the first complete and unique wins)."""
    data_columns = [c for c in columns if c != CORRUPT_COLUMN]
    return [c for c in (find_column(data_columns, [k]) for k in KEY_COLUMN_CANDIDATES) if c]
