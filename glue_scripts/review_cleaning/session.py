"""The local SparkSession for laptop runs (on Glue, the session is Glue's), and its JVM's class-data archive.

A local run starts a fresh JVM, which loads and verifies about 17,000 of Spark's classes before the first job. A
dynamic class-data-sharing archive (JDK 13+, ``-XX:ArchiveClassesAtExit``) holds them already parsed; a JVM that maps
it starts Spark and plans its first queries several seconds sooner (docs/data-quality.md, "Speed"). The archive is
specific to one Java build, one pyspark installation and the JVM options, so its file name carries a digest of all
three (:func:`class_archive_path`); ``ds_on_aws.local.spark_classes`` writes it (``make install`` does), and
:func:`local_spark` uses it when it exists. Without it nothing changes but the start-up time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from pyspark.sql import SparkSession

from review_cleaning.cache import default_cache_folder

# Options of every local JVM; the class-data archive is written with them and its name carries them. A metaspace of
# 256 MB from the start: with the default (about 21 MB) the JVM ran 4-5 full collections ("Metadata GC Threshold")
# while Spark's classes loaded. Only for the local driver, which this process starts: on Glue the JVM is Glue's.
LOCAL_JVM_OPTIONS = "-XX:+UseParallelGC -XX:MetaspaceSize=256m"
# Which compilers compile Spark's generated code depends on how long the run lasts (docs/data-quality.md, "Speed").
# In a short run the optimizing compiler (C2) spent about 56 CPU-seconds compiling code that then ran for seconds;
# the client compiler alone (tier 1) compiles fast code at a fraction of the cost. In a long run C2's code pays
# back: at 1M IMDb rows (1.36 GB of CSV text) the run with C2 was 4-15% faster than with C1 alone, back to back.
# The line between the two lies between the measured sizes: 512 MiB is about 375k IMDb rows.
SHORT_RUN_JIT_OPTIONS = "-XX:TieredStopAtLevel=1"
LONG_RUN_JIT_OPTIONS = ""  # the JVM's default: tiered compilation up to C2, as Glue's own JVM runs
LONG_RUN_INPUT_BYTES = 512 * 2**20  # uncompressed input (input_text_bytes) from which a run counts as long
# "short" or "long" chooses the compilers whatever the input; unset or "auto": by the input's size.
JIT_ENV = "DS_ON_AWS_SPARK_JIT"
# Where the class-data archive is (a file path), or "off" to start without it.
CLASS_ARCHIVE_ENV = "DS_ON_AWS_SPARK_CLASS_ARCHIVE"
# An archive the JVM cannot use (another Java build, moved jars) is skipped with a warning; these keep it quiet.
QUIET_CDS = "-Xlog:cds=off -Xlog:cds+dynamic=off"


def java_executable() -> str | None:
    """The ``java`` pyspark starts: ``$JAVA_HOME/bin/java`` when JAVA_HOME is set, else the one on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        return str(candidate) if candidate.is_file() else None
    return shutil.which("java")


def class_archive_path() -> Path | None:
    """The class-data archive for this Java, this pyspark and LOCAL_JVM_OPTIONS (None: no Java, or turned off).

    ``DS_ON_AWS_SPARK_CLASS_ARCHIVE`` names another file, or ``off``. The digest covers the real path and the
    ``release`` file of the Java installation, pyspark's version and location, and the JVM options: a JVM update,
    another virtualenv or other options get an archive of their own instead of one the JVM would refuse.
    """
    setting = os.environ.get(CLASS_ARCHIVE_ENV, "").strip()
    if setting.lower() == "off":
        return None
    if setting:
        return Path(setting)
    java = java_executable()
    if java is None:
        return None
    import pyspark

    java_path = Path(java).resolve()
    release = java_path.parent.parent / "release"
    parts = [str(java_path), release.read_text(errors="replace") if release.is_file() else "",
             pyspark.__version__, str(Path(pyspark.__file__).resolve().parent), LOCAL_JVM_OPTIONS]
    digest = hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]
    return default_cache_folder() / f"spark-classes-{digest}.jsa"


def input_text_bytes(uri: str | os.PathLike | None) -> int | None:
    """About how many bytes of text a local input holds (None for s3:// and other remote or missing inputs).

    A file counts its size; a gzip file the uncompressed size its trailer records (modulo 4 GiB, of its last
    member: never less than the file's own size is counted); a folder the sum over its files, hidden ones and
    Spark's ``_SUCCESS``-style markers left out. Other compressed formats (Parquet) count their size on disk,
    which under-states them: such a run counts as long later than a CSV of the same rows, never sooner.
    """
    if uri is None or "://" in str(uri) and not str(uri).startswith("file://"):
        return None
    path = Path(str(uri).removeprefix("file://"))
    if path.is_file():
        return _file_text_bytes(path)
    if not path.is_dir():
        return None
    total = 0
    for folder, folders, names in os.walk(path):
        folders[:] = [name for name in folders if not name.startswith((".", "_"))]
        total += sum(_file_text_bytes(Path(folder) / name) for name in names if not name.startswith((".", "_")))
    return total


def _file_text_bytes(path: Path) -> int:
    size = path.stat().st_size
    if path.suffix.lower() not in (".gz", ".gzip") or size < 18:  # header (10) + trailer (8)
        return size
    with path.open("rb") as handle:
        if handle.read(2) != b"\x1f\x8b":
            return size
        handle.seek(-4, os.SEEK_END)
        return max(size, int.from_bytes(handle.read(4), "little"))


def jit_options(input_bytes: int | None) -> str:
    """The compiler options for a run reading ``input_bytes`` of text (None: not known, counted as short).

    ``DS_ON_AWS_SPARK_JIT=short|long`` chooses whatever the input; anything else there is refused by name.
    """
    setting = os.environ.get(JIT_ENV, "").strip().lower()
    if setting not in ("", "auto", "short", "long"):
        raise ValueError(f"{JIT_ENV}={os.environ[JIT_ENV]!r}: expected short, long or auto")
    long_run = setting == "long" or (setting in ("", "auto") and input_bytes is not None
                                     and input_bytes >= LONG_RUN_INPUT_BYTES)
    return LONG_RUN_JIT_OPTIONS if long_run else SHORT_RUN_JIT_OPTIONS


def driver_java_options(archive: Path | None = None, input_bytes: int | None = None) -> str:
    """LOCAL_JVM_OPTIONS, the compilers for ``input_bytes`` (:func:`jit_options`), and the class-data archive when
    it exists (``archive`` defaults to class_archive_path). The archive serves both compiler settings: it holds
    parsed classes, not compiled code."""
    archive = archive if archive is not None else class_archive_path()
    options = " ".join(part for part in (LOCAL_JVM_OPTIONS, jit_options(input_bytes)) if part)
    if archive is not None and archive.is_file() and archive.stat().st_size > 0:
        return f"{options} -XX:SharedArchiveFile={archive} {QUIET_CDS}"
    return options


def local_spark(app_name: str = "clean_reviews", shuffle_partitions: int = 8,
                extra_conf: Mapping[str, str] | None = None, input_uri: str | None = None) -> SparkSession:
    """A local SparkSession for laptop runs: no UI, workers on this Python, a JVM tuned for the run's length.

    ``input_uri`` is what the run will read: its size chooses the JVM's compilers (:func:`jit_options`); without it
    the run counts as short. The JVM starts with the session, so a session that is already running keeps its own.

    The job sets the shuffle partitions from the number of rows it read (``job.ROWS_PER_SHUFFLE_PARTITION``);
    ``shuffle_partitions`` only applies before that. Cached column batches of 2,000 rows instead of 10,000: a
    batch holds the original and the cleaned text of every row, and at 1M rows the default batches ran out of a
    4 GB heap. ``extra_conf`` adds settings (the offline runner binds to loopback).
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (SparkSession.builder.master(os.environ.get("DS_ON_AWS_SPARK_MASTER", "local[*]")).appName(app_name)
               .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
               .config("spark.sql.adaptive.enabled", "true")
               .config("spark.sql.adaptive.coalescePartitions.enabled", "true")
               .config("spark.sql.inMemoryColumnarStorage.batchSize", "2000")
               .config("spark.driver.extraJavaOptions", driver_java_options(input_bytes=input_text_bytes(input_uri)))
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.memory", os.environ.get("DS_ON_AWS_SPARK_DRIVER_MEMORY", "4g")))
    for key, value in (extra_conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
