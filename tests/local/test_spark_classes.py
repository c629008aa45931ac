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
    assert "SharedArchiveFile" not in session.driver_java_options()
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


def test_the_jvm_gets_the_archive_only_when_it_exists_and_is_not_empty(tmp_path, monkeypatch):
    monkeypatch.delenv(session.JIT_ENV, raising=False)
    archive = tmp_path / "spark.jsa"
    without = f"{session.LOCAL_JVM_OPTIONS} {session.SHORT_RUN_JIT_OPTIONS}"
    assert session.driver_java_options(archive) == without
    archive.write_bytes(b"")
    assert session.driver_java_options(archive) == without
    archive.write_bytes(b"x" * 16)
    for input_bytes in (None, session.LONG_RUN_INPUT_BYTES):  # one archive for both compiler settings
        options = session.driver_java_options(archive, input_bytes)
        assert options.startswith(session.LOCAL_JVM_OPTIONS)
        assert f"-XX:SharedArchiveFile={archive}" in options and session.QUIET_CDS in options


# --- the JVM's compilers, by the size of the input -------------------------------------------------------------------

def test_short_runs_get_the_client_compiler_alone_and_long_runs_the_default(monkeypatch):
    monkeypatch.delenv(session.JIT_ENV, raising=False)
    short, long = session.SHORT_RUN_JIT_OPTIONS, session.LONG_RUN_JIT_OPTIONS
    assert short == "-XX:TieredStopAtLevel=1" and short != long
    assert session.jit_options(None) == short  # unknown size (s3://, a missing path): short
    assert session.jit_options(0) == short
    assert session.jit_options(session.LONG_RUN_INPUT_BYTES - 1) == short
    assert session.jit_options(session.LONG_RUN_INPUT_BYTES) == long
    options = session.driver_java_options(Path("/nonexistent.jsa"), session.LONG_RUN_INPUT_BYTES)
    assert "TieredStopAtLevel" not in options and session.LOCAL_JVM_OPTIONS in options
    assert "-XX:TieredStopAtLevel=1" in session.driver_java_options(Path("/nonexistent.jsa"), 1_000)


def test_the_setting_overrides_the_size_and_a_wrong_one_is_named(monkeypatch):
    monkeypatch.setenv(session.JIT_ENV, "long")
    assert session.jit_options(None) == session.LONG_RUN_JIT_OPTIONS
    monkeypatch.setenv(session.JIT_ENV, " Short ")
    assert session.jit_options(10 * session.LONG_RUN_INPUT_BYTES) == session.SHORT_RUN_JIT_OPTIONS
    monkeypatch.setenv(session.JIT_ENV, "auto")
    assert session.jit_options(session.LONG_RUN_INPUT_BYTES) == session.LONG_RUN_JIT_OPTIONS
    monkeypatch.setenv(session.JIT_ENV, "c2")
    with pytest.raises(ValueError, match="DS_ON_AWS_SPARK_JIT='c2': expected short, long or auto"):
        session.jit_options(0)


def test_input_text_bytes_counts_uncompressed_text(tmp_path):
    import gzip

    text = b"review,sentiment\n" + b"A long and repetitive review of a film.,positive\n" * 20_000
    plain = tmp_path / "reviews.csv"
    plain.write_bytes(text)
    assert session.input_text_bytes(str(plain)) == len(text)
    assert session.input_text_bytes(f"file://{plain}") == len(text)
    packed = tmp_path / "reviews.csv.gz"
    packed.write_bytes(gzip.compress(text))
    assert packed.stat().st_size < len(text) // 10
    assert session.input_text_bytes(packed) == len(text)  # the trailer's size, not the file's
    not_gzip = tmp_path / "mislabelled.csv.gz"
    not_gzip.write_bytes(text[:1000])
    assert session.input_text_bytes(not_gzip) == 1000
    folder = tmp_path / "export"
    (folder / "part").mkdir(parents=True)
    (folder / "a.csv").write_bytes(text)
    (folder / "part" / "b.csv.gz").write_bytes(gzip.compress(text))
    (folder / "_SUCCESS").write_bytes(b"x" * 50)
    (folder / ".a.csv.crc").write_bytes(b"x" * 70)
    (folder / "_temporary").mkdir()
    (folder / "_temporary" / "c.csv").write_bytes(text)
    assert session.input_text_bytes(folder) == 2 * len(text)
    assert session.input_text_bytes(tmp_path / "missing") is None
    assert session.input_text_bytes("s3://bucket/raw/reviews.csv.gz") is None
    assert session.input_text_bytes(None) is None


def test_the_warm_up_export_is_a_csv_the_job_reads(tmp_path):
    import csv
    import gzip

    path = spark_classes.write_warm_up_input(tmp_path, rows=10)
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["review", "sentiment", "rating", "id", "file", "url"] and len(rows) == 13
    assert any("<br />" in row[0] for row in rows[1:]) and any(row[1] == "negtive" for row in rows[1:])
    # unique ids and file keys, as in the IMDb export: the run plans the key choice as a real run does
    assert len({row[3] for row in rows[1:]}) == len({row[4] for row in rows[1:]}) == 12
    from review_cleaning.language import LanguageRule

    assert [LanguageRule().foreign_language(row[0]) for row in rows[1:]].count("fr") == 1


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
@pytest.mark.parametrize("jit", ["short", "long"])
def test_local_spark_maps_the_archive(class_archive, tmp_path, jit):
    """A fresh process's local_spark loads Spark's classes from the archive (the JVM's class-load log says so),
    with either compiler setting, and its JVM runs with that setting."""
    log = tmp_path / "classes.log"
    env = {**os.environ, "JAVA_TOOL_OPTIONS": f"-Xlog:class+load=info:file={log}", session.JIT_ENV: jit,
           "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in (".", "common", "glue_scripts"))}
    env.pop(session.CLASS_ARCHIVE_ENV, None)
    code = ("from review_cleaning.session import local_spark\n"
            "spark = local_spark('archive-test', extra_conf={'spark.driver.bindAddress': '127.0.0.1',"
            " 'spark.driver.host': '127.0.0.1'})\n"
            "assert spark.range(100).selectExpr('sum(id) AS s').first()['s'] == 4950\n"
            "runtime = spark._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()\n"
            "print('JVM-ARGS', ' '.join(str(a) for a in runtime.getInputArguments()))\n")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    jvm_args = next(line for line in result.stdout.splitlines() if line.startswith("JVM-ARGS"))
    assert ("-XX:TieredStopAtLevel=1" in jvm_args) == (jit == "short"), jvm_args
    lines = log.read_text().splitlines()
    from_archive = [line for line in lines if "shared objects file (top)" in line]
    spark_from_archive = [line for line in from_archive if "org.apache.spark." in line]
    assert len(spark_from_archive) > 1_000, f"{len(from_archive)} of {len(lines)} classes from the archive"
