"""Writing: the curated channels, the table partitions, the quarantine and the duplicates, under the run's prefixes.

The layout is pipeline_contracts' (``curated/<run_id>/<split>/``, ``tables/reviews/run_id=<run_id>/split=<split>/``,
``quarantine/<run_id>/``, ``reports/<run_id>/duplicates/`` and ``reports/<run_id>/data_quality.json``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from pipeline_contracts import SCORE_MODE, run_outputs, scoring_outputs
from pyspark import InheritableThread
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from review_cleaning.filesystem import delete_path
from review_cleaning.readers import RawInput


def output_uris(curated_uri: str, run_id: str, mode: str = "train") -> dict[str, str]:
    """Where one run writes: curated, table, quarantine, duplicates and report (scoring: its input instead)."""
    if mode == SCORE_MODE:
        uris = scoring_outputs(curated_uri, run_id)
        return {k: uris[k] for k in ("scoring_input", "quarantine", "duplicates", "report")}
    return run_outputs(curated_uri, run_id)


# Output files: one per ROWS_PER_FILE rows, and never fewer than the cores while each file keeps at least
# MIN_ROWS_PER_FILE rows. A file is written by one task (JSON and gzip on one core: about 12 MB/s of text on 2 shared
# cores), so one file for a 200,000-row split kept the other cores idle for most of the write.
ROWS_PER_FILE = 200_000
MIN_ROWS_PER_FILE = 10_000


def files_for(rows: int, cores: int) -> int:
    """How many files ``rows`` rows are written as, on ``cores`` cores: a multiple of the cores once there are more
    files than cores (5 files on 2 cores would leave one core idle for the last third of the write)."""
    files = max(1, math.ceil(rows / ROWS_PER_FILE), min(cores, rows // MIN_ROWS_PER_FILE))
    return files if files <= cores else -(-files // cores) * cores


def write_outputs(spark: SparkSession, kept: DataFrame, rejected: DataFrame, raw: RawInput, report: dict[str, Any],
                  uris: dict[str, str]) -> None:
    """Curated channels, table partitions, quarantine and duplicates; only under this run's own prefixes. ``kept``:
    the kept rows with their split; ``rejected``: the others with status, reason and kept row
    (classification.with_decisions). The writes are independent Spark jobs and run at once (:func:`run_at_once`)."""
    spark.sparkContext._jsc.hadoopConfiguration().set("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
    if "scoring_input" in uris:
        writes = [lambda: _write_scoring_input(kept, report, uris["scoring_input"])]
    else:
        delete_path(spark, uris["curated"])
        writes = _training_writes(kept, report, uris)
    run_at_once([*writes, *_reject_writes(rejected, raw, report, uris)])


def run_at_once(writes: Sequence[Callable[[], None]]) -> None:
    """Run each write in its own thread (pyspark's InheritableThread: the caller's job group and local properties
    carry over) and wait for all of them; then raise the first failure in submission order, if any.

    Spark's scheduler serves the jobs first in, first out: the first write's tasks take the cores as before, and a
    later write plans its query and runs its tasks while the driver plans the next one or a core would wait for the
    last file of the one before. On a cold JVM at 25k rows the writes were a dozen small jobs with the driver
    planning between them (docs/data-quality.md, "Speed"). A failed write leaves the others to finish under the
    run's own prefixes (as a failure did before: nothing outside them is touched), and no report is written.
    """
    failures: list[BaseException | None] = [None] * len(writes)

    def runner(index: int) -> Callable[[], None]:
        def run() -> None:
            try:
                writes[index]()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread below
                failures[index] = exc
        return run

    threads = [InheritableThread(target=runner(i), name=f"write-{i}", daemon=True) for i in range(len(writes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failure = next((exc for exc in failures if exc is not None), None)
    if failure is not None:
        raise failure


def _cores(df: DataFrame) -> int:
    return df.sparkSession.sparkContext.defaultParallelism


def _as_files(df: DataFrame, rows: int, partitions: int) -> DataFrame:
    """``df`` (``rows`` rows over ``partitions`` partitions) arranged as the ``files_for(rows)`` files it is written as.

    Without a shuffle where the rows are many: partitions are merged (``coalesce``) when there are more than files,
    and a file keeps its rows in input order. The rows of an output too small for one file per core (fewer than
    MIN_ROWS_PER_FILE per core) are gathered by a shuffle instead, so that every core scans for them, and sorted by
    review_id. Shuffling the texts cost more than writing them: at 1M rows, 31 of the writes' 170 CPU-seconds.
    """
    files = files_for(rows, _cores(df))
    if files < _cores(df):
        return df.repartition(files).sortWithinPartitions("review_id")
    return df.coalesce(files) if partitions > files else df


def _as_text(df: DataFrame, column: str, name: str):
    """A context column as a string: text as it is, numbers and dates cast, nested values as JSON; null stays null."""
    kind = df.schema[column].dataType
    col = F.col(f"`{column}`")
    if isinstance(kind, T.StringType):
        return col.alias(name)
    if isinstance(kind, (T.StructType, T.ArrayType, T.MapType)):
        return F.to_json(col).alias(name)
    return col.cast("string").alias(name)


def _write_scoring_input(df: DataFrame, report: dict[str, Any], uri: str) -> None:
    """Kept records as uncompressed JSON Lines ``{"review_id", "text", <context columns>}``: Batch Transform splits
    them by line; the context columns the input has (``report["context_columns"]``) ride along to the table."""
    context = [_as_text(df, column, name) for name, column in report.get("context_columns", {}).items()]
    kept = df.select("review_id", F.col("_dq_text").alias("text"), *context)
    (kept.repartition(files_for(report["counts"]["kept"], _cores(df)), "review_id").sortWithinPartitions("review_id")
     .write.mode("overwrite").json(uri))


def _training_writes(df: DataFrame, report: dict[str, Any], uris: dict[str, str]) -> list[Callable[[], None]]:
    """The curated JSON Lines file sets, one per split, and the table partitions (largest first)."""
    record = df.select(
        "review_id", F.col("_dq_text").alias("text"), F.col("_dq_label").alias("label"),
        F.col("_dq_rating").alias("rating"), "split")
    partitions = df.rdd.getNumPartitions()

    def split_files(split: str, rows: int) -> Callable[[], None]:
        part = _as_files(record.filter(F.col("split") == split), rows, partitions)
        return lambda: (part.write.mode("overwrite").option("compression", "gzip").option("ignoreNullFields", False)
                        .json(f"{uris['curated']}/{split}"))

    splits = sorted(report["splits"].items(), key=lambda item: -item[1]["rows"])
    # Each task writes a file per split it holds, one writer per split open at once (job.RUN_CONF): no sort by split.
    table = _as_files(record, report["counts"]["kept"], partitions)
    return [*(split_files(split, figures["rows"]) for split, figures in splits),
            lambda: table.write.mode("overwrite").partitionBy("split").parquet(uris["table"])]


def _reject_writes(df: DataFrame, raw: RawInput, report: dict[str, Any],
                   uris: dict[str, str]) -> list[Callable[[], None]]:
    """The quarantine (original columns as read, with reason and detail) and the collapsed duplicates."""
    quarantine = df.filter(F.col("_dq_status") == "quarantined").select(
        *[F.col(f"`{c}`") for c in raw.original_columns],
        F.col("_dq_reason").alias("reject_reason"), F.col("_dq_detail").alias("reject_detail"),
        F.lit(report["run_id"]).alias("run_id"))
    context = [_as_text(df, column, name) for name, column in report.get("context_columns", {}).items()]
    duplicates = df.filter(F.col("_dq_status") == "duplicate").select(
        "review_id", F.col("_dq_kept_id").alias("kept_review_id"), *context)  # a copy keeps its own source
    # One file each (they are small); repartition, not coalesce, so that the scan that finds them uses every core.
    return [lambda: (quarantine.repartition(1).write.mode("overwrite").option("compression", "gzip")
                     .option("ignoreNullFields", False).json(uris["quarantine"])),
            lambda: duplicates.repartition(1).write.mode("overwrite").option("compression", "gzip")
            .json(uris["duplicates"])]
