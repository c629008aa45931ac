"""The job: clean, split, write and gate one run (:func:`run_job`), and the two edges that start it (:func:`main`).

``glue_scripts/clean_reviews.py`` calls :func:`main`: on Glue when ``--JOB_NAME`` is among the arguments (Glue
always passes it), else as a local run with a local SparkSession and exit codes instead of tracebacks.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from pipeline_contracts import SCORE_MODE
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from review_cleaning.classification import choose_key, classify, decide, with_decisions
from review_cleaning.errors import EXIT_DATA_QUALITY, EXIT_INPUT_ERROR, DataQualityError, InputError
from review_cleaning.filesystem import write_text
from review_cleaning.measure import measure
from review_cleaning.options import OPTIONAL_OPTIONS, REQUIRED_OPTIONS, parse_options
from review_cleaning.readers import read_input, require_label
from review_cleaning.report import build_report, failure_message
from review_cleaning.session import local_spark
from review_cleaning.writers import output_uris, write_outputs

PROG = "clean_reviews.py"
DESCRIPTION = ("Glue job ``clean_reviews``: raw review exports -> clean, de-duplicated, split training data + a "
               "data-quality gate.")


# Only the decisions' narrow rows (no texts: about 150 bytes each) are shuffled, so partitions can be large: at 1M
# rows, 20 partitions spent more on starting 232 small tasks than on the rows.
ROWS_PER_SHUFFLE_PARTITION = 250_000
# Settings of the job's own plans, for the length of a run (the previous values are restored after it). Adaptive
# execution turns every shuffle into a Spark job of its own and re-plans after each (36 jobs instead of ~15 for
# the 25k file); the job sizes its shuffles from the row count itself, and its joins are broadcasts or on a
# unique row id, so adaptive coalescing and skew handling have nothing to do. The cached rows are stored as they
# are: compressing a cached batch hashes and copies every value of every string column into a dictionary (for
# batches of texts that never repeat), which took about a tenth of the JVM's time in the Python pass and most of
# its garbage; the texts do not compress that way, so the cache is about as large. A task that writes the table
# keeps one file open per split instead of sorting its rows by split first (writers.py).
RUN_CONF = {"spark.sql.adaptive.enabled": "false", "spark.sql.inMemoryColumnarStorage.compressed": "false",
            "spark.sql.maxConcurrentOutputFileWriters": "4"}


def run_job(spark: SparkSession, options: Mapping[str, str]) -> dict[str, Any]:
    """Clean, split, write and gate one run. Returns the report; raises DataQualityError after writing it.

    The input is read once and the per-record rules run once: their result is cached, and the one aggregation
    that decides the source key materializes it before anything else reads it. De-duplication, splits and the
    report's figures run on a narrow projection without texts (its own small cache); the decisions are joined
    back once, for the writers. Shuffles get one partition per ROWS_PER_SHUFFLE_PARTITION rows (a multiple of the
    cores) instead of a fixed number sized for the largest input; RUN_CONF applies for the run only.
    """
    opts = parse_options(options)
    with _run_conf(spark, RUN_CONF):
        report = _run(spark, opts)
    if not report["passed"]:
        raise DataQualityError(failure_message(report), report)
    return report


@contextmanager
def _run_conf(spark: SparkSession, conf: Mapping[str, str]) -> Iterator[None]:
    previous = {key: spark.conf.get(key, None) for key in (*conf, "spark.sql.shuffle.partitions")}  # _size_shuffles
    for key, value in conf.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def _run(spark: SparkSession, opts) -> dict[str, Any]:
    raw = read_input(spark, opts.input_uri, opts.input_format)
    if opts.mode != SCORE_MODE:
        require_label(raw)
    uris = output_uris(opts.curated_uri, opts.run_id, opts.mode)
    cached: list[DataFrame] = []

    def cache(frame: DataFrame) -> DataFrame:
        cached.append(frame.persist(StorageLevel.MEMORY_AND_DISK))
        return cached[-1]

    try:
        records = cache(classify(raw, opts))
        keyed, rows = choose_key(records, raw)
        _size_shuffles(spark, rows)
        decided = cache(decide(keyed, opts, rows, cache))
        figures = measure(decided)
        report = build_report(figures, raw, opts, uris)
        write_outputs(spark, *with_decisions(keyed, decided, rows, raw), raw, report, uris)
        write_text(spark, uris["report"], json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    finally:
        for frame in reversed(cached):
            frame.unpersist()
    return report


def _size_shuffles(spark: SparkSession, rows: int) -> None:
    cores = spark.sparkContext.defaultParallelism
    rounds = max(1, -(-rows // (ROWS_PER_SHUFFLE_PARTITION * cores)))  # every core gets as many partitions
    spark.conf.set("spark.sql.shuffle.partitions", str(rounds * cores))


def _parse_local_args(argv: Sequence[str]) -> dict[str, str]:
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION)
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
        spark = local_spark(input_uri=options["input_uri"])
        report = run_job(spark, options)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except DataQualityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATA_QUALITY
    print(json.dumps({"run_id": report["run_id"], "mode": report["mode"], "passed": report["passed"],
                      "counts": report["counts"], "repairs": report["repairs"], "splits": report["splits"],
                      "report": report["outputs"]["report"]}, indent=2))
    return 0
