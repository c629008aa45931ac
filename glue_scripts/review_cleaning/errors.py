"""The job's two errors, each carrying a message meant for a human, without a stack trace, and their exit codes."""

from __future__ import annotations

from typing import Any

from pipeline_contracts import EXIT_DATA_QUALITY, EXIT_USAGE

EXIT_INPUT_ERROR = EXIT_USAGE
__all__ = ["EXIT_DATA_QUALITY", "EXIT_INPUT_ERROR", "DataQualityError", "InputError"]


class InputError(Exception):
    """The input cannot be read as review data (missing, unknown format, no text or label column, bad option)."""


class DataQualityError(Exception):
    """The data-quality gate refused the run; the message names every failed check with value and threshold."""

    def __init__(self, message: str, report: dict[str, Any]):
        super().__init__(message)
        self.report = report
