"""Stage 2, clean on local Spark: the Glue job (``review_cleaning``) in-process, with the Glue job's arguments.

The job is called through its documented in-process API ``review_cleaning.run_job(spark, options)`` with exactly the
options the deployed Glue job gets (``--input_uri``, ``--curated_uri``, ``--run_id``, ``--input_format`` and the
data-quality thresholds from ``cdk.json``); only the SparkSession differs (``local[*]`` instead of Glue's).
In-process rather than a subprocess: one JVM start (~3 s) per runner process, reused by later runs in the same
process (the tests run three pipelines), and the job's typed errors arrive as exceptions, not exit codes.

Java is checked BEFORE Spark starts: without it pyspark fails with a long Java gateway traceback.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from pipeline_contracts import report_key

from ds_on_aws.local.errors import DataQualityRefused, UsageError

JAVA_INSTALL_HINT = ("install Java 17 (Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless; "
                     "macOS: brew install openjdk@17) and make sure `java -version` works or JAVA_HOME points at it")
EXPECTED_JAVA_MAJOR = 17


def java_executable() -> str | None:
    """The ``java`` pyspark will start (the job's ``session.java_executable``: JAVA_HOME's, else the one on PATH)."""
    return import_job().session.java_executable()


def check_java() -> str:
    """Return the Java version line, or raise UsageError in one line saying how to install Java 17."""
    java = java_executable()
    if java is None:
        where = f"JAVA_HOME={os.environ['JAVA_HOME']} has no bin/java" if os.environ.get("JAVA_HOME") else "no java on PATH"
        raise UsageError(f"Java not found ({where}): the local Spark (Glue) stage needs it; {JAVA_INSTALL_HINT}")
    try:
        result = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"`{java} -version` failed ({exc}); {JAVA_INSTALL_HINT}") from exc
    output = (result.stderr or result.stdout).strip()
    if result.returncode != 0 or not output:
        raise UsageError(f"`{java} -version` failed (exit {result.returncode}); {JAVA_INSTALL_HINT}")
    first = output.splitlines()[0]
    match = re.search(r'version "(\d+)(?:\.(\d+))?', first)
    if match:
        major = int(match.group(1)) if match.group(1) != "1" else int(match.group(2) or 0)
        if major < 8:
            raise UsageError(f"Java {major} is too old for Spark 3.5 ({first}); {JAVA_INSTALL_HINT}")
        if major != EXPECTED_JAVA_MAJOR:
            print(f"  note: found {first}; AWS Glue 5.1 runs Java {EXPECTED_JAVA_MAJOR}, results should not differ")
    return first


def local_spark(input_uri: str | None = None):
    """The local SparkSession standing in for Glue's: the job's own ``review_cleaning.local_spark`` settings (workers
    on this Python, so its pandas UDFs find pandas and pyarrow; adaptive shuffle partitions; no UI; UTC; the JVM's
    compilers chosen by the size of ``input_uri``, the input the run reads), plus: bound to loopback only (the
    driver must not listen on the machine's network interfaces) and quiet logs. An already running session in this
    process is reused (with the JVM it started).
    """
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    review_cleaning = import_job()
    spark = review_cleaning.local_spark(
        "ds-on-aws-local",
        extra_conf={"spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"},
        input_uri=input_uri,
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def job_options(input_uri: str, curated_root: Path, run_id: str, input_format: str,
                data_quality_arguments: Mapping[str, str]) -> dict[str, str]:
    """The Glue job's arguments without the leading ``--`` (what ``run_job`` takes)."""
    options = {"input_uri": input_uri, "curated_uri": str(curated_root), "run_id": run_id,
               "input_format": input_format}
    options.update({k.removeprefix("--"): str(v) for k, v in data_quality_arguments.items()})
    return options


def report_path(curated_root: Path, run_id: str) -> Path:
    return curated_root / report_key(run_id)


def import_job():
    """The Glue job's package ``review_cleaning`` (installed with the project; on Glue, its zip in --extra-py-files)."""
    try:
        import review_cleaning
    except ImportError as exc:
        raise UsageError(f"the Glue job glue_scripts/clean_reviews.py cannot be imported: {exc}") from exc
    return review_cleaning


def run_cleaning(spark, options: Mapping[str, str]) -> dict:
    """Run the Glue job's logic; map its errors to the runner's (input -> exit 2, gate refusal -> exit 3)."""
    review_cleaning = import_job()
    try:
        return review_cleaning.run_job(spark, dict(options))
    except review_cleaning.InputError as exc:
        raise UsageError(f"unreadable input {options['input_uri']}: {exc}") from exc
    except review_cleaning.DataQualityError as exc:
        path = report_path(Path(options["curated_uri"]), options["run_id"])
        report = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        message = exc.args[0] if exc.args else "data-quality gate refused the data"
        refused = DataQualityRefused(message)
        refused.report = report
        raise refused from exc
