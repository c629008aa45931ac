"""How many files the job writes per output: every core writes, files stay large enough, the rounds come out even."""

from __future__ import annotations

import pytest

pytest.importorskip("pyspark")
from review_cleaning.writers import MIN_ROWS_PER_FILE, ROWS_PER_FILE, files_for  # noqa: E402


@pytest.mark.parametrize(("rows", "cores", "files"), [
    (0, 2, 1), (9_999, 2, 1),  # small outputs: one file
    (20_000, 2, 2), (25_000, 8, 2),  # every core that gets MIN_ROWS_PER_FILE rows writes one
    (200_000, 2, 2), (400_001, 2, 4),  # a multiple of the cores once there are more files than cores
    (800_001, 2, 6), (1_000_000, 2, 6), (2_000_000, 40, 40), (20_000_000, 40, 120),
])
def test_files_for(rows, cores, files):
    assert files_for(rows, cores) == files


def test_files_hold_at_most_rows_per_file_and_at_least_the_minimum_when_split():
    for rows in (10_000, 123_456, 999_999, 5_000_000):
        for cores in (1, 2, 4, 16):
            files = files_for(rows, cores)
            assert rows / files <= ROWS_PER_FILE
            assert files == 1 or rows / files >= MIN_ROWS_PER_FILE or files % cores == 0


def test_writes_run_at_once():
    """Two writes that each wait for the other can only finish if they run at the same time."""
    import threading

    from review_cleaning.writers import run_at_once

    both = threading.Barrier(2, timeout=20)
    done = []
    run_at_once([lambda: (both.wait(), done.append("a")), lambda: (both.wait(), done.append("b"))])
    assert sorted(done) == ["a", "b"]


def test_a_failed_write_lets_the_others_finish_and_raises_the_first_failure():
    from review_cleaning.writers import run_at_once

    done = []

    def fail(message):
        def write():
            raise OSError(message)
        return write

    with pytest.raises(OSError, match="first"):
        run_at_once([lambda: done.append(1), fail("first"), lambda: done.append(3), fail("second")])
    assert sorted(done) == [1, 3]


def test_writes_see_the_callers_spark_local_properties(spark):
    """Job group, description and scheduler pool set by the caller (as Glue's job does) carry over to each write."""
    from review_cleaning.writers import run_at_once

    context = spark.sparkContext
    context.setLocalProperty("ds_on_aws.test", "caller")
    seen = []
    try:
        run_at_once([lambda: seen.append(context.getLocalProperty("ds_on_aws.test")),
                     lambda: seen.append(spark.range(3).count())])
    finally:
        context.setLocalProperty("ds_on_aws.test", None)
    assert sorted(seen, key=str) == [3, "caller"]
