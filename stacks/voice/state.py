"""The voice execution's state document: every JSONPath the voice state machine reads or writes, defined once.

Same conventions as ``stacks/state_machine/state.py`` (whose :class:`Field` is reused). Inside the Map, each file's
iteration has its own document (:data:`FILE`, :data:`JOB`, :data:`POLL`, :data:`FILE_ERROR`), whose last state
leaves the file's result (:data:`FILE_RESULT_FIELDS`).
"""

from __future__ import annotations

from stacks.scoring.state import PREPARE
from stacks.state_machine.state import ERROR, FAILURE, NOTIFY_ERROR, ErrorInfo, Field

__all__ = ["ERROR", "FAILURE", "NOTIFY_ERROR", "PREPARE", "RUN", "LISTING", "FILES", "RECORDS", "SCORING", "FILE",
           "DESCRIBED", "JOB", "POLL", "FILE_ERROR", "FILE_RESULT_FIELDS"]
# PREPARE: the input merged over the defaults has the scoring run's shape (input_s3_uri, model_name), at $.prepare.


class Run(Field):
    """``$.run``: the run id (execution name), the audio URI, the model to score with, the job-name prefix."""

    run_id: Field
    input_s3_uri: Field
    model_name: Field
    job_prefix: Field


RUN = Run("$.run")


class Listing(Field):
    """``$.listing``: what "List audio files" found (``files``, ``count``, ``skipped``)."""

    files: Field
    count: Field
    skipped: Field


LISTING = Listing("$.listing")
# The Map's result replaces the listing's entries (one FILE_RESULT_FIELDS object per file, in order): the state then
# never holds both lists, which keeps a large run within Step Functions' 256 KiB state limit.
FILES = LISTING.files


class Records(Field):
    """``$.records``: what "Write feedback records" wrote (``records_uri``, counts, ``failures``)."""

    records_uri: Field
    records: Field
    calls: Field
    transcribed: Field
    failed: Field
    failures: Field


RECORDS = Records("$.records")


class Scoring(Field):
    """``$.scoring``: the scoring execution (``execution_arn``, ``status``)."""

    execution_arn: Field
    status: Field


SCORING = Scoring("$.scoring")


# --- one file's iteration inside the Map ------------------------------------------------------------------------------


class File(Field):
    """``$.file``: one entry of ``$.listing.files``."""

    key: Field
    media_uri: Field
    media_format: Field
    channels: Field
    job_name: Field
    output_key: Field
    settings: Field


FILE = File("$.file")


class Job(Field):
    """The ``TranscriptionJob`` as StartTranscriptionJob / GetTranscriptionJob last answered it."""

    TranscriptionJobStatus: Field
    FailureReason: Field


class Described(Field):
    """``$.described``: the last Start/GetTranscriptionJob answer."""

    TranscriptionJob: Job


DESCRIBED = Described("$.described")
JOB = DESCRIBED.TranscriptionJob


class Poll(Field):
    attempt: Field


POLL = Poll("$.poll")
FILE_ERROR = ErrorInfo("$.file_error")
FILE_RESULT_FIELDS = ("key", "status", "reason", "job_name", "output_key")
