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
