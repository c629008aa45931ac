"""The file system edge: Hadoop's FileSystem through Spark's JVM, so local paths and s3:// behave alike."""

from __future__ import annotations

from pyspark.sql import SparkSession

from review_cleaning.errors import InputError


def hadoop_path(spark: SparkSession, uri: str):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def _is_hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def list_input(spark: SparkSession, uri: str, limit: int = 100_000) -> tuple[bool, list[str]]:
    """(is_directory, data files) under ``uri``, through Hadoop's FileSystem so local paths and s3:// alike work."""
    try:
        path, fs = hadoop_path(spark, uri)
        if not fs.exists(path):
            raise InputError(f"input not found: {uri}")
        if fs.getFileStatus(path).isFile():
            return False, [path.toString()]
        files: list[str] = []
        iterator = fs.listFiles(path, True)
        while iterator.hasNext() and len(files) < limit:
            status = iterator.next()
            file_path = status.getPath()
            relative = file_path.toString()[len(fs.makeQualified(path).toString()):].lstrip("/")
            if not any(_is_hidden(part) for part in relative.split("/")):
                files.append(file_path.toString())
        return True, files
    except InputError:
        raise
    except Exception as exc:  # py4j errors carry a Java stack trace: keep the first line only
        raise InputError(f"cannot list input {uri}: {first_line(exc)}") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def dir_exists(spark: SparkSession, uri: str) -> bool:
    try:
        path, fs = hadoop_path(spark, uri)
        return fs.exists(path) and fs.getFileStatus(path).isDirectory()
    except Exception:
        return False


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    """Write one small text object (the report) through Hadoop's FileSystem: local paths and s3:// alike."""
    path, fs = hadoop_path(spark, uri)
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def delete_path(spark: SparkSession, uri: str) -> None:
    path, fs = hadoop_path(spark, uri)
    if fs.exists(path):
        fs.delete(path, True)
