"""The local JVM's class-data archive: its name, when the session uses it, and that a real one is written and mapped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from review_cleaning import session

from ds_on_aws.local import spark_classes

ROOT = Path(__file__).resolve().parents[2]


def _fake_java(home: Path, version: str) -> Path:
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("#!/bin/sh\n")
    (home / "bin" / "java").chmod(0o755)
    (home / "release").write_text(f'JAVA_VERSION="{version}"\n')
    return home


@pytest.fixture
def no_setting(monkeypatch):
    monkeypatch.delenv(session.CLASS_ARCHIVE_ENV, raising=False)


def test_the_archive_name_follows_the_java_build_and_the_jvm_options(tmp_path, monkeypatch, no_setting):
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path / "jdk-a", "17.0.15")))
    first = session.class_archive_path()
    assert first == session.class_archive_path()  # stable
    assert first.name.startswith("spark-classes-") and first.suffix == ".jsa"
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path / "jdk-b", "17.0.16")))
    updated_java = session.class_archive_path()
    monkeypatch.setattr(session, "LOCAL_JVM_OPTIONS", session.LOCAL_JVM_OPTIONS + " -Xss2m")
    other_options = session.class_archive_path()
    assert len({first, updated_java, other_options}) == 3


def test_no_java_or_off_means_no_archive(tmp_path, monkeypatch, no_setting):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "empty"))
    assert session.class_archive_path() is None
    assert session.driver_java_options() == session.LOCAL_JVM_OPTIONS
    monkeypatch.setenv(session.CLASS_ARCHIVE_ENV, "off")
    assert session.class_archive_path() is None


def test_the_setting_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv(session.CLASS_ARCHIVE_ENV, str(tmp_path / "mine.jsa"))
    assert session.class_archive_path() == tmp_path / "mine.jsa"


def test_in_a_virtualenv_the_archive_lives_in_it_else_in_the_user_cache(tmp_path, monkeypatch, no_setting):
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path / "jdk", "17.0.15")))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    monkeypatch.setattr(sys, "base_prefix", str(tmp_path / "python"))
    assert session.class_archive_path().parent == tmp_path / "venv" / "var" / "cache" / "ds-on-aws"
    monkeypatch.setattr(sys, "base_prefix", str(tmp_path / "venv"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert session.class_archive_path().parent == tmp_path / "cache" / "ds-on-aws"


def test_the_jvm_gets_the_archive_only_when_it_exists_and_is_not_empty(tmp_path):
    archive = tmp_path / "spark.jsa"
    assert session.driver_java_options(archive) == session.LOCAL_JVM_OPTIONS
    archive.write_bytes(b"")
    assert session.driver_java_options(archive) == session.LOCAL_JVM_OPTIONS
    archive.write_bytes(b"x" * 16)
    options = session.driver_java_options(archive)
    assert options.startswith(session.LOCAL_JVM_OPTIONS)
    assert f"-XX:SharedArchiveFile={archive}" in options and session.QUIET_CDS in options


def test_the_warm_up_export_is_a_csv_the_job_reads(tmp_path):
    import csv
    import gzip

    path = spark_classes.write_warm_up_input(tmp_path, rows=10)
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["review", "sentiment", "rating", "url"] and len(rows) == 12
    assert any("<br />" in row[0] for row in rows[1:]) and any(row[1] == "negtive" for row in rows[1:])


def test_write_archive_refuses_without_java(tmp_path, monkeypatch, no_setting):
    from ds_on_aws.local.errors import UsageError

    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "empty"))
    with pytest.raises(UsageError, match="Java is not found"):
        spark_classes.write_archive()


# --- a real archive (make install writes it; written here when absent: about a minute) ------------------------------

@pytest.fixture(scope="module")
def class_archive() -> Path:
    if session.java_executable() is None:
        pytest.skip("no Java")
    return spark_classes.write_archive()


@pytest.mark.spark
@pytest.mark.slow
def test_a_damaged_archive_is_never_used(class_archive, tmp_path):
    assert spark_classes.usable(class_archive)
    truncated = tmp_path / "truncated.jsa"
    truncated.write_bytes(class_archive.read_bytes()[:4096])
    before = set(Path.cwd().glob("hs_err_pid*.log"))
    assert not spark_classes.usable(truncated)  # a JVM given it aborts: write_archive never moves such a file in place
    assert set(Path.cwd().glob("hs_err_pid*.log")) == before  # its crash log stays out of the working folder


@pytest.mark.spark
@pytest.mark.slow
def test_local_spark_maps_the_archive(class_archive, tmp_path):
    """A fresh process's local_spark loads Spark's classes from the archive (the JVM's class-load log says so)."""
    log = tmp_path / "classes.log"
    env = {**os.environ, "JAVA_TOOL_OPTIONS": f"-Xlog:class+load=info:file={log}",
           "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in (".", "common", "glue_scripts"))}
    env.pop(session.CLASS_ARCHIVE_ENV, None)
    code = ("from review_cleaning.session import local_spark\n"
            "spark = local_spark('archive-test', extra_conf={'spark.driver.bindAddress': '127.0.0.1',"
            " 'spark.driver.host': '127.0.0.1'})\n"
            "assert spark.range(100).selectExpr('sum(id) AS s').first()['s'] == 4950\n")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = log.read_text().splitlines()
    from_archive = [line for line in lines if "shared objects file (top)" in line]
    spark_from_archive = [line for line in from_archive if "org.apache.spark." in line]
    assert len(spark_from_archive) > 1_000, f"{len(from_archive)} of {len(lines)} classes from the archive"
