"""The local SparkSession for laptop runs (on Glue, the session is Glue's)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from pyspark.sql import SparkSession


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
