"""Job options: the job arguments without the leading ``--``; all values arrive as strings, as Glue passes them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pipeline_contracts import DATA_QUALITY_DEFAULTS

from review_cleaning.errors import InputError

# The gate's defaults as Glue passes them (strings); the values live in pipeline_contracts.
DEFAULT_THRESHOLDS: dict[str, str] = {name: str(value) for name, value in DATA_QUALITY_DEFAULTS.items()}
INTEGER_OPTIONS = tuple(name for name, value in DATA_QUALITY_DEFAULTS.items() if isinstance(value, int))
REQUIRED_OPTIONS = ("input_uri", "curated_uri", "run_id")
OPTIONAL_OPTIONS = ("input_format", *DEFAULT_THRESHOLDS)
INPUT_FORMATS = ("auto", "csv", "jsonl", "parquet", "aclimdb")
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class JobOptions:
    input_uri: str
    curated_uri: str
    run_id: str
    input_format: str = "auto"
    min_rows: int = DATA_QUALITY_DEFAULTS["min_rows"]
    max_quarantine_share: float = DATA_QUALITY_DEFAULTS["max_quarantine_share"]
    min_class_share: float = DATA_QUALITY_DEFAULTS["min_class_share"]
    max_duplicate_share: float = DATA_QUALITY_DEFAULTS["max_duplicate_share"]
    min_text_chars: int = DATA_QUALITY_DEFAULTS["min_text_chars"]
    max_text_chars: int = DATA_QUALITY_DEFAULTS["max_text_chars"]
    validation_share: float = DATA_QUALITY_DEFAULTS["validation_share"]
    seed: int = DATA_QUALITY_DEFAULTS["seed"]

    def thresholds(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k in DEFAULT_THRESHOLDS}


def parse_options(options: Mapping[str, str]) -> JobOptions:
    """Validate the job arguments; any problem is an :class:`InputError` naming the argument."""
    unknown = sorted(set(options) - set(REQUIRED_OPTIONS) - set(OPTIONAL_OPTIONS))
    if unknown:
        raise InputError(f"unknown job argument(s) {['--' + u for u in unknown]}; known: "
                         f"{['--' + k for k in (*REQUIRED_OPTIONS, *OPTIONAL_OPTIONS)]}")
    missing = [k for k in REQUIRED_OPTIONS if not str(options.get(k) or "").strip()]
    if missing:
        raise InputError(f"missing job argument(s) {['--' + m for m in missing]}")
    values: dict[str, Any] = {k: str(options[k]).strip() for k in REQUIRED_OPTIONS}
    if not RUN_ID_PATTERN.match(values["run_id"]):
        raise InputError(f"--run_id: letters, digits, '.', '_' and '-' only (max 128), got {values['run_id']!r}")
    fmt = str(options.get("input_format") or "auto").strip().lower()
    if fmt not in INPUT_FORMATS:
        raise InputError(f"--input_format: one of {list(INPUT_FORMATS)}, got {fmt!r}")
    values["input_format"] = fmt
    for name, default in DEFAULT_THRESHOLDS.items():
        values[name] = _threshold(name, str(options.get(name, default)).strip())
    if values["min_class_share"] > 0.5:
        raise InputError(f"--min_class_share: must be at most 0.5, got {values['min_class_share']}")
    if values["min_text_chars"] >= values["max_text_chars"]:
        raise InputError(f"--min_text_chars ({values['min_text_chars']}) must be below --max_text_chars "
                         f"({values['max_text_chars']})")
    return JobOptions(**values)


def _threshold(name: str, raw: str) -> int | float:
    """One threshold argument: an integer for the integer defaults, else a share between 0 and 1."""
    kind = int if name in INTEGER_OPTIONS else float
    try:
        value = kind(raw)
    except ValueError:
        raise InputError(f"--{name}: expected {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
    if kind is float and not (0.0 <= value <= 1.0):
        raise InputError(f"--{name}: must be between 0 and 1, got {raw}")
    if kind is int and name != "seed" and value < 0:
        raise InputError(f"--{name}: must not be negative, got {raw}")
    return value
