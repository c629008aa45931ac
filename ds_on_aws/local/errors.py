"""Errors of the offline runner, each carrying the exit code the command line returns for it.

The codes are part of the user contract (docs/architecture.md; defined in ``pipeline_contracts``, shared with the
Glue job run locally): a script or CI job can tell from the exit status alone which gate refused or what kind of
failure happened.
"""

from __future__ import annotations

from pipeline_contracts import (
    EXIT_DATA_QUALITY,
    EXIT_ENDPOINT,
    EXIT_MODEL_QUALITY,
    EXIT_OK,
    EXIT_UNEXPECTED,
    EXIT_USAGE,
)

__all__ = [
    "EXIT_DATA_QUALITY", "EXIT_ENDPOINT", "EXIT_MODEL_QUALITY", "EXIT_OK", "EXIT_UNEXPECTED", "EXIT_USAGE",
    "DataQualityRefused", "EndpointError", "ModelQualityRefused", "RunnerError", "TrainingError", "UsageError",
]


class RunnerError(Exception):
    """A failure the runner explains in one line; ``exit_code`` is what the command line returns."""

    exit_code = EXIT_UNEXPECTED


class UsageError(RunnerError):
    """Bad usage or input: missing/unreadable input, no Java, no data source reachable, bad flag values."""

    exit_code = EXIT_USAGE


class TrainingError(RunnerError):
    """The training script failed; the message carries its failure reason."""

    exit_code = EXIT_UNEXPECTED


class DataQualityRefused(RunnerError):
    """The data-quality gate refused the cleaned data (the report is written)."""

    exit_code = EXIT_DATA_QUALITY


class ModelQualityRefused(RunnerError):
    """The model-quality gate refused the trained model (the report is written)."""

    exit_code = EXIT_MODEL_QUALITY


class EndpointError(RunnerError):
    """The local endpoint could not start (e.g. port in use) or failed its smoke test."""

    exit_code = EXIT_ENDPOINT
