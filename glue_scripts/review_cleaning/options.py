"""Job options: the job arguments without the leading ``--``; all values arrive as strings, as Glue passes them.

The thresholds and rule switches are one field per entry of ``pipeline_contracts.DATA_QUALITY_DEFAULTS``, typed by
their default (an int default is an integer argument, a float one a share between 0 and 1, a bool one
``true``/``false``, a str one text), so the job, the CDK stacks and the offline runner cannot disagree on them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, field, make_dataclass
from typing import Any

from pipeline_contracts import (
    CONTEXT_COLUMN_PATTERN,
    DATA_QUALITY_DEFAULTS,
    MODES,
    RESERVED_CONTEXT_COLUMNS,
    SCORE_MODE,
    TRAIN_MODE,
)

from review_cleaning.errors import InputError

# The defaults as Glue passes them (strings); the values live in pipeline_contracts.
DEFAULT_THRESHOLDS: dict[str, str] = {
    name: (str(value).lower() if isinstance(value, bool) else str(value)) for name, value in DATA_QUALITY_DEFAULTS.items()}
INTEGER_OPTIONS = tuple(name for name, value in DATA_QUALITY_DEFAULTS.items()
                        if isinstance(value, int) and not isinstance(value, bool))
REQUIRED_OPTIONS = ("input_uri", "curated_uri", "run_id")
OPTIONAL_OPTIONS = ("input_format", "mode", "context_columns", *DEFAULT_THRESHOLDS)
INPUT_FORMATS = ("auto", "csv", "jsonl", "parquet", "aclimdb")
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
LANGUAGE_PATTERN = re.compile(r"^(?:[a-z]{2,3})?$")
TRUE_SPELLINGS, FALSE_SPELLINGS = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def _thresholds(self) -> dict[str, Any]:
    return {k: v for k, v in asdict(self).items() if k in DEFAULT_THRESHOLDS}


JobOptions = make_dataclass(
    "JobOptions",
    [("input_uri", str), ("curated_uri", str), ("run_id", str),
     ("input_format", str, field(default="auto")), ("mode", str, field(default=TRAIN_MODE)),
     ("context_columns", tuple, field(default=())),
     *[(name, type(value), field(default=value)) for name, value in DATA_QUALITY_DEFAULTS.items()]],
    frozen=True,
    namespace={"thresholds": _thresholds, "__doc__": "The validated job arguments."},
)
JobOptions.__module__ = __name__


def _choice(options: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = str(options.get(name) or default).strip().lower()
    if value not in allowed:
        raise InputError(f"--{name}: one of {list(allowed)}, got {value!r}")
    return value


def parse_options(options: Mapping[str, str]):
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
    values["input_format"] = _choice(options, "input_format", "auto", INPUT_FORMATS)
    values["mode"] = _choice(options, "mode", TRAIN_MODE, MODES)
    values["context_columns"] = _context_columns(str(options.get("context_columns") or ""), values["mode"])
    for name, default in DEFAULT_THRESHOLDS.items():
        values[name] = _threshold(name, str(options.get(name, default)).strip())
    _check_consistency(values)
    return JobOptions(**values)


def _context_columns(raw: str, mode: str) -> tuple[str, ...]:
    """``--context_columns source,call_id,...``: the input columns a scoring run carries to the predictions table."""
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    if names and mode != SCORE_MODE:
        raise InputError("--context_columns: applies to --mode score only (training data keeps a fixed schema)")
    bad = [n for n in names if not re.match(CONTEXT_COLUMN_PATTERN, n) or n in RESERVED_CONTEXT_COLUMNS]
    if bad:
        raise InputError(f"--context_columns: lower-case names (letters, digits, '_'), not "
                         f"{list(RESERVED_CONTEXT_COLUMNS)}; got {bad}")
    return names


def _check_consistency(values: dict[str, Any]) -> None:
    if values["min_class_share"] > 0.5:
        raise InputError(f"--min_class_share: must be at most 0.5, got {values['min_class_share']}")
    if values["min_text_chars"] >= values["max_text_chars"]:
        raise InputError(f"--min_text_chars ({values['min_text_chars']}) must be below --max_text_chars "
                         f"({values['max_text_chars']})")
    if values["negative_max_rating"] >= values["positive_min_rating"]:
        raise InputError(f"--negative_max_rating ({values['negative_max_rating']}) must be below "
                         f"--positive_min_rating ({values['positive_min_rating']})")


def _threshold(name: str, raw: str) -> int | float | bool | str:
    """One argument, typed by its default: integer, share between 0 and 1, true/false, or a language code."""
    default = DATA_QUALITY_DEFAULTS[name]
    if isinstance(default, bool):
        if raw.lower() in TRUE_SPELLINGS:
            return True
        if raw.lower() in FALSE_SPELLINGS:
            return False
        raise InputError(f"--{name}: expected true or false, got {raw!r}")
    if isinstance(default, str):
        value = "" if raw.lower() in ("off", "none") else raw.lower()
        if not LANGUAGE_PATTERN.match(value):
            raise InputError(f"--{name}: an ISO 639-1 language code such as 'en', or 'off', got {raw!r}")
        return value
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
