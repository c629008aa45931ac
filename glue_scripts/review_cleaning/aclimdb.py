"""The aclImdb folder tree: ``<root>/{train,test}/{pos,neg}/<id>_<rating>.txt[.gz]``, read into the standardized frame.

unsup/ and the other files are ignored; ``urls_pos.txt``/``urls_neg.txt`` (line n = id n) give the movie url when
present.
"""

from __future__ import annotations

import functools

from pipeline_contracts import TEST
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from review_cleaning.errors import InputError
from review_cleaning.filesystem import dir_exists, hadoop_path

ACLIMDB_SPLIT_DIRS = ("train", "test")
ACLIMDB_LABEL_DIRS = ("pos", "neg")
ACLIMDB_TAIL = r"((train|test)/(pos|neg)/([^/]+?))(\.gz)?$"
ACLIMDB_NAME = r"^([0-9]+)_([0-9]+)\.txt$"
ACLIMDB_ROLES = {"text": "file content", "label": "folder pos/neg", "rating": "file name <id>_<rating>.txt",
                 "review_id": "relative path", "url": "urls_{pos,neg}.txt", "split": "folder train/test"}


def find_aclimdb_root(spark: SparkSession, uri: str) -> str | None:
    """The folder holding ``train/`` or ``test/`` with ``pos``/``neg`` inside: ``uri`` itself or ``uri/aclImdb``."""
    base = uri.rstrip("/")
    for root in (base, base + "/aclImdb"):
        if any(dir_exists(spark, f"{root}/{s}/{lab}") for s in ACLIMDB_SPLIT_DIRS for lab in ACLIMDB_LABEL_DIRS):
            return root
    return None


def read_aclimdb(spark: SparkSession, root: str) -> tuple[DataFrame, list[str], dict, list[str]]:
    """The aclImdb tree: one row per review file; label from the folder, id and rating from the file name.

    Files are listed by Spark's file index and their text read with the wholetext text source (which
    gunzips ``.gz``); the two are joined on the relative path so an empty file, which Spark's file sources
    skip, still counts as a row (and is quarantined as empty_text). Bytes that are not
    UTF-8 are detected by a decode/encode round trip. ``urls_pos.txt``/``urls_neg.txt`` (line = id) give the
    movie url when present.
    """
    dirs = [f"{root}/{s}/{lab}" for s in ACLIMDB_SPLIT_DIRS for lab in ACLIMDB_LABEL_DIRS
            if dir_exists(spark, f"{root}/{s}/{lab}")]
    if not dirs:
        raise InputError(f"no aclImdb folders {{train,test}}/{{pos,neg}} under {root}")
    files, listed = _review_files(spark, dirs)
    files = _file_fields(files)
    urls = aclimdb_urls(spark, root)
    if urls is not None:
        files = files.join(F.broadcast(urls), ["_split_dir", "_label_dir", "_file_id"], "left")
    else:
        files = files.withColumn("_url", F.lit(None).cast("string"))
    roles = {**ACLIMDB_ROLES, "url": ACLIMDB_ROLES["url"] if urls is not None else None}
    return _standardized(files), ["path", "text"], roles, listed


def _review_files(spark: SparkSession, dirs: list[str]) -> tuple[DataFrame, list[str]]:
    """(one row per listed file with its content or null, Spark's listing): empty files are listed, not scanned."""
    tail = F.regexp_extract(F.col("_path"), ACLIMDB_TAIL, 1)
    reader = spark.read.text(dirs, wholetext=True)
    listed = reader.inputFiles()  # Spark's own listing, empty files included (its scans skip them)
    listing = (spark.createDataFrame([(p,) for p in listed], "_path string")
               .withColumn("path", F.regexp_extract(F.col("_path"), ACLIMDB_TAIL, 0)).withColumn("_tail", tail)
               .withColumn("_gz", F.col("_path").endswith(".gz")).drop("_path"))
    texts = (reader.select(F.input_file_name().alias("_path"), "value")
             .withColumn("_tail", tail).withColumn("_gz", F.col("_path").endswith(".gz")).drop("_path"))
    # the gz flag keeps "x.txt" and "x.txt.gz" apart if both exist
    return listing.join(texts, ["_tail", "_gz"], "left"), listed


def _file_fields(files: DataFrame) -> DataFrame:
    """Decoded text, split and label folders, id and rating from the file name, and the undecodable flag."""
    raw_bytes = F.coalesce(F.col("value").cast("binary"), F.lit(b"").cast("binary"))
    decoded = F.decode(raw_bytes, "UTF-8")
    name = F.regexp_extract(F.col("_tail"), r"[^/]+$", 0)
    split_dir = F.regexp_extract(F.col("_tail"), r"^(train|test)/", 1)
    label_dir = F.regexp_extract(F.col("_tail"), r"^(?:train|test)/(pos|neg)/", 1)
    file_id = F.regexp_extract(name, ACLIMDB_NAME, 1)
    rating = F.regexp_extract(name, ACLIMDB_NAME, 2)
    return files.select(
        F.col("path"), decoded.alias("text"),
        split_dir.alias("_split_dir"), label_dir.alias("_label_dir"), file_id.alias("_file_id"),
        rating.alias("_rating"), (F.encode(decoded, "UTF-8") != raw_bytes).alias("_undecodable"),
        F.col("_tail"))


def _standardized(files: DataFrame) -> DataFrame:
    """The original columns (path, text) plus the INTERNAL columns."""
    return files.select(
        "path", "text",
        F.col("text").alias("_dq_text_raw"),
        F.col("_label_dir").alias("_dq_label_raw"),
        F.when(F.col("_rating") != "", F.col("_rating")).alias("_dq_rating_raw"),
        F.col("_tail").alias("_dq_key"),
        F.col("_url").alias("_dq_url"),
        F.when(F.col("_split_dir") == "test", F.lit(TEST)).alias("_dq_split_hint"),
        (F.col("_file_id") == "").alias("_dq_malformed"),  # a file whose name is not <id>_<rating>.txt
        F.col("_undecodable").alias("_dq_undecodable"),
    )


def aclimdb_urls(spark: SparkSession, root: str) -> DataFrame | None:
    """(split dir, label dir, id, url) from ``<root>/<split>/urls_<pos|neg>.txt``, where line n is id n."""
    frames = []
    for split_dir in ACLIMDB_SPLIT_DIRS:
        for label_dir in ACLIMDB_LABEL_DIRS:
            uri = f"{root}/{split_dir}/urls_{label_dir}.txt"
            try:
                path, fs = hadoop_path(spark, uri)
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
