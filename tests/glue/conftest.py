"""Shared fixtures of the Glue job tests: one local SparkSession for the whole session (starting Spark costs seconds)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

IMDB_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "imdb"
IMDB_TRAIN = IMDB_DIR / "train.csv.gz"


@pytest.fixture(scope="session")
def spark():
    pytest.importorskip("pyspark")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("tests-glue")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.default.parallelism", "2")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session


@pytest.fixture(scope="session")
def imdb_train() -> Path:
    if not IMDB_TRAIN.is_file():
        pytest.skip(f"real IMDb data not present at {IMDB_TRAIN}")
    return IMDB_TRAIN
