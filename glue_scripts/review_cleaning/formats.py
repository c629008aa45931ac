"""Input formats from file names: which of CSV, JSON Lines or Parquet a listing holds (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from review_cleaning.errors import InputError

EXTENSION_FORMATS = (
    (re.compile(r"\.csv(\.gz)?$", re.I), "csv"),
    (re.compile(r"\.(jsonl|ndjson|json)(\.gz)?$", re.I), "jsonl"),
    (re.compile(r"\.parquet$", re.I), "parquet"),
)


def detect_format(files: Sequence[str]) -> tuple[str, list[str], list[str]]:
    """(format, data files, ignored files) from file extensions; mixed or unknown formats are an InputError."""
    if any(re.search(r"\.(tar|tar\.gz|tgz|zip)$", f, re.I) for f in files):
        archives = [f for f in files if re.search(r"\.(tar|tar\.gz|tgz|zip)$", f, re.I)]
        raise InputError(f"archives are not read by the job, extract them first (e.g. tar -xzf): {archives[:3]}")
    by_format: dict[str, list[str]] = {}
    ignored: list[str] = []
    for name in files:
        fmt = next((f for pattern, f in EXTENSION_FORMATS if pattern.search(name)), None)
        if fmt is None:
            ignored.append(name)
        else:
            by_format.setdefault(fmt, []).append(name)
    if not by_format:
        raise InputError(f"no CSV, JSON Lines, Parquet or aclImdb data found; files seen: {list(files)[:5]}")
    if len(by_format) > 1:
        raise InputError(f"mixed input formats {sorted(by_format)}: pass --input_format or one format per folder")
    fmt, chosen = next(iter(by_format.items()))
    return fmt, chosen, ignored


def files_of_format(files: Sequence[str], fmt: str) -> tuple[list[str], list[str]]:
    pattern = next(p for p, f in EXTENSION_FORMATS if f == fmt)
    chosen = [f for f in files if pattern.search(f)]
    return chosen, [f for f in files if f not in chosen]
