"""What the two single-process contenders of bench_glue share with the job: its options, rules, roles and layout.

Both contenders take the job's own pieces wherever they are plain Python: ``review_cleaning.parse_options`` and
``classification.record_rules`` for the thresholds, ``columns.find_column`` and its candidate spellings for the
roles, ``pipeline_contracts.run_outputs`` for where each output goes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline_contracts import TEST, run_outputs
from review_cleaning import parse_options
from review_cleaning.classification import record_rules
from review_cleaning.columns import (
    CORRUPT_COLUMN,
    KEY_COLUMN_CANDIDATES,
    LABEL_COLUMN_CANDIDATES,
    RATING_COLUMN_CANDIDATES,
    SPLIT_COLUMN_CANDIDATES,
    TEST_SPLIT_SPELLINGS,
    TEXT_COLUMN_CANDIDATES,
    URL_COLUMN_CANDIDATES,
    find_column,
)

TEST_KEY = re.compile(r"(^|/)test/")  # the job's rule: without a split column, a key path with test/ is a test row
JSON_CHUNK = 20_000  # rows per to_json call (one call over the whole frame builds the document in memory)


def job_options(input_path: Path, curated: Path, run_id: str, arguments: Mapping[str, str]):
    """The job's validated options for these arguments (thresholds without the leading ``--``)."""
    return parse_options({"input_uri": str(input_path), "curated_uri": str(curated), "run_id": run_id,
                          **arguments})


def rules_and_options(input_path: Path, curated: Path, run_id: str, arguments: Mapping[str, str]):
    opts = job_options(input_path, curated, run_id, arguments)
    return record_rules(opts), opts


def input_files(path: Path) -> list[Path]:
    """The CSV parts of an input: the file itself, or the ``*.csv``/``*.csv.gz`` files of a folder, sorted."""
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.name.endswith((".csv", ".csv.gz")))
    if not files:
        raise FileNotFoundError(f"no .csv or .csv.gz file under {path}")
    return files


def roles(columns: Sequence[str]) -> dict:
    """The column of each role, as the job's reader finds them, and the key candidates in order."""
    data = [c for c in columns if c != CORRUPT_COLUMN]
    found = {role: find_column(data, candidates) for role, candidates in (
        ("text", TEXT_COLUMN_CANDIDATES), ("label", LABEL_COLUMN_CANDIDATES), ("rating", RATING_COLUMN_CANDIDATES),
        ("url", URL_COLUMN_CANDIDATES), ("split", SPLIT_COLUMN_CANDIDATES))}
    if found["text"] is None:
        raise ValueError(f"no text column among {list(data)}")
    found["key_candidates"] = [c for c in (find_column(data, [k]) for k in KEY_COLUMN_CANDIDATES) if c]
    return found


def split_hint_of_split_column(value: str | None) -> str | None:
    return TEST if value is not None and value.strip().lower() in TEST_SPLIT_SPELLINGS else None


def outputs(curated: Path, run_id: str) -> dict[str, Path]:
    return {name: Path(uri) for name, uri in run_outputs(str(curated), run_id).items()}
