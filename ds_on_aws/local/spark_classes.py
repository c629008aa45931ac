"""Write the local JVM's class-data archive: ``python -m ds_on_aws.local.spark_classes [--force]`` (``make install``).

A JVM started with ``-XX:ArchiveClassesAtExit=FILE`` writes every class it loaded, already parsed and verified, to
FILE when it exits; a later JVM given ``-XX:SharedArchiveFile=FILE`` maps them instead of loading them from Spark's
jars. ``review_cleaning.local_spark`` uses the archive at ``review_cleaning.session.class_archive_path()`` when it
exists: the local clean stage then starts and plans its first queries about 5 s sooner on 2 cores (measured in
docs/data-quality.md, "Speed"). AWS Glue starts its own JVM; the archive only serves local runs.

The archive is written by the cleaning job itself, run once on a small generated export (CSV, gzip) in a child
process: the classes of reading, the Python pass, de-duplication, splits and every writer are loaded, as in a real
run. The child's JVM writes to a temporary file as it exits; that file is checked (a JVM maps it and prints its
version) and only then moved to its place, so that no JVM ever sees a half-written archive (one that is truncated
makes the JVM abort at start).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD_TIMEOUT_SECONDS = 600
WARM_UP_ROWS = 1_200


def _job():
    from ds_on_aws.local.cleaning import import_job

    return import_job()


def _session():
    return _job().session


def write_warm_up_input(folder: Path, rows: int = WARM_UP_ROWS) -> Path:
    """A small review export laid out as the IMDb file (review, sentiment, rating, id, file, url), with the defects
    the job repairs or rejects (tags, entities, a label typo, a near duplicate, a review in French): its run loads
    the classes of the key choice's distinct counts, of every output and of the language model's load."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "reviews.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review", "sentiment", "rating", "id", "file", "url"])

        def row(i: int, text: str, label: str, rating: int) -> list[str]:
            folder = "pos" if rating >= 7 else "neg"
            return [text, label, str(rating), f"{i}_{rating}", f"train/{folder}/{i}_{rating}.txt",
                    f"http://www.imdb.com/title/tt{i // 3:07d}/"]

        for i in range(rows):
            good = i % 2 == 0
            text = (f"Review {i}: a {'wonderful, moving' if good else 'dull, tiresome'} film.<br /><br />"
                    f"The cast &amp; the score were {'superb' if good else 'awful'}, and I would "
                    f"{'see it again' if good else 'not recommend it'} to anyone who asked me about it.")
            writer.writerow(row(i, text, "positive" if good else ("negtive" if i % 97 == 1 else "negative"),
                                9 if good else 2))
        writer.writerow(row(rows, "Review 0: a wonderful, moving film. The cast & the score were superb!", "positive",
                            9))
        writer.writerow(row(rows + 1, "Ce film est une véritable catastrophe, je ne le recommande à personne et "
                                      "surtout pas aux enfants.", "negative", 1))
    return path


def _child(archive_tmp: Path) -> None:
    """Runs in the child: the job on the warm-up export, in a JVM that writes its classes to ``archive_tmp``."""
    from pyspark import SparkContext

    review_cleaning = _job()
    session = review_cleaning.session
    # Written under the short-run compilers: the archive holds parsed classes, which a JVM with C2 maps as well.
    java_options = (f"{session.LOCAL_JVM_OPTIONS} {session.SHORT_RUN_JIT_OPTIONS} "
                    f"-XX:ArchiveClassesAtExit={archive_tmp} {session.QUIET_CDS}")
    spark = session.local_spark("ds-on-aws-class-archive", extra_conf={
        "spark.driver.extraJavaOptions": java_options,
        "spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"})
    spark.sparkContext.setLogLevel("ERROR")
    with tempfile.TemporaryDirectory(prefix="ds-on-aws-class-archive-") as work:
        source = write_warm_up_input(Path(work) / "raw")
        options = {"input_uri": str(source), "curated_uri": str(Path(work) / "curated"), "run_id": "warm-up"}
        try:
            review_cleaning.run_job(spark, options)
        except review_cleaning.DataQualityError:
            pass  # every output is written before the gate decides; the classes are loaded either way
    gateway = SparkContext._gateway.proc  # the JVM (spark-submit execs java); it exits when its stdin closes
    spark.stop()
    gateway.stdin.close()
    gateway.wait(timeout=CHILD_TIMEOUT_SECONDS)  # the archive is written as the JVM exits


def usable(archive: Path) -> bool:
    """Whether a JVM with the local options maps ``archive`` and starts (a damaged archive makes it abort)."""
    session = _session()
    java = session.java_executable()
    if java is None or not archive.is_file() or archive.stat().st_size == 0:
        return False
    with tempfile.TemporaryDirectory(prefix="ds-on-aws-archive-check-") as scratch:
        # A JVM that aborts writes hs_err_pid<N>.log (and may dump core) into its working folder: keep it in scratch.
        command = [java, *session.LOCAL_JVM_OPTIONS.split(), f"-XX:SharedArchiveFile={archive}",
                   f"-XX:ErrorFile={scratch}/hs_err_%p.log", "-XX:-CreateCoredumpOnCrash", "-version"]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=scratch)
        except (OSError, subprocess.TimeoutExpired):
            return False
    return result.returncode == 0


def write_archive(force: bool = False) -> Path:
    """Write the archive for this Java, pyspark and JVM options (unless it exists); return its path."""
    from ds_on_aws.local.errors import UsageError

    archive = _session().class_archive_path()
    if archive is None:
        raise UsageError("no class-data archive: Java is not found, or DS_ON_AWS_SPARK_CLASS_ARCHIVE is off")
    if archive.is_file() and not force:
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    archive_tmp = archive.with_name(f"{archive.name}.{os.getpid()}.tmp")
    env = {**os.environ, "DS_ON_AWS_SPARK_CLASS_ARCHIVE": "off"}  # the child's JVM must not map an old archive
    try:
        result = subprocess.run([sys.executable, "-m", "ds_on_aws.local.spark_classes", "--child", str(archive_tmp)],
                                env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_SECONDS)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise UsageError(f"the warm-up run that writes the class-data archive failed (exit {result.returncode}): "
                             f"{last}")
        if not usable(archive_tmp):
            raise UsageError(f"the JVM wrote no usable class-data archive at {archive_tmp}")
        os.replace(archive_tmp, archive)
    finally:
        archive_tmp.unlink(missing_ok=True)
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ds_on_aws.local.spark_classes",
                                     description="Write the local JVM's class-data archive (faster local Spark starts).")
    parser.add_argument("--force", action="store_true", help="write it again even if it exists")
    parser.add_argument("--child", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(Path(args.child))
        return 0
    from ds_on_aws.local.errors import UsageError

    try:
        archive = write_archive(force=args.force)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"class-data archive for local Spark: {archive} ({archive.stat().st_size / 2**20:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
