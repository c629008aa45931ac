"""The review-cleaning job: raw review exports -> clean, de-duplicated, split training data + a data-quality gate.

Runs unchanged on AWS Glue 5.1 (Spark 3.5.6, Python 3.11), where it arrives as a zip in ``--extra-py-files``, and
on a laptop (local Spark), where it is installed with the project; ``glue_scripts/clean_reviews.py`` is the Glue
entry point. Everything except :func:`review_cleaning.job.main`'s Glue edge is plain PySpark: the offline runner
calls :func:`run_job` in-process and the tests call the small functions one by one.

One job per module, pure functions in the middle, I/O at the edges:

- ``options``: the job arguments, validated (:func:`parse_options` -> :class:`JobOptions`); ``errors``: the two
  errors and their exit codes.
- ``readers`` (with ``formats``, ``aclimdb``, ``columns`` and ``filesystem``): :func:`read_input` detects the
  format (CSV, JSON Lines, Parquet, the aclImdb folder tree; plain or gzip), finds the text/label/rating/id/url/
  split columns by their common spellings and returns one *standardized* frame: the original columns plus
  internal ``_dq_*`` columns.
- ``records`` (with ``language``): the rules of one record in plain Python (:func:`classify_record`: decoding,
  ``review_text``'s cleaning and repairs, label and rating rules, language, duplicate key, reject reason), run by
  Spark's Python workers over Arrow batches. The text cleaning is ``review_text.normalize_text``, the very
  function training and serving call.
- ``classification``: :func:`classify` (the Python pass, cached once), :func:`deduplicate` and
  :func:`assign_splits`.
- ``measure`` and ``report``: the figures (one query: a grouped count and three single-row checks) and the ``data_quality.json`` document with its checks.
- ``writers``: the curated channels (JSON Lines gzip), the Parquet table partitions, the quarantine and the
  duplicates; ``session``: the local SparkSession; ``job``: :func:`run_job`, which writes everything, then raises
  :class:`DataQualityError` when a check failed, and :func:`main`.

With ``--mode score`` the same cleaning runs on feedback to score (labels optional and ignored, no splits) and
the kept records go to ``scoring/<run_id>/input/`` as JSON Lines for Batch Transform.

Outputs under ``--curated_uri`` (``pipeline_contracts``, docs/data-quality.md): ``curated/<run_id>/{train,validation,
test}/``, ``tables/reviews/run_id=<run_id>/split=<split>/``, ``quarantine/<run_id>/``,
``reports/<run_id>/data_quality.json`` and ``reports/<run_id>/duplicates/`` (which review was collapsed into which).
"""

from __future__ import annotations

from review_cleaning.classification import (
    REJECT_REASONS,
    assign_splits,
    choose_key,
    classify,
    deduplicate,
    finish,
    record_rules,
)
from review_cleaning.columns import find_column
from review_cleaning.errors import EXIT_DATA_QUALITY, EXIT_INPUT_ERROR, DataQualityError, InputError
from review_cleaning.formats import detect_format
from review_cleaning.job import main, run_job
from review_cleaning.measure import measure
from review_cleaning.options import (
    DEFAULT_THRESHOLDS,
    OPTIONAL_OPTIONS,
    REQUIRED_OPTIONS,
    JobOptions,
    parse_options,
)
from review_cleaning.readers import RawInput, read_input, require_label
from review_cleaning.records import REPAIRS, RecordRules, classify_record, decode_latin1_field
from review_cleaning.report import build_report, failure_message
from review_cleaning.session import local_spark
from review_cleaning.writers import output_uris, write_outputs

__all__ = [
    "DEFAULT_THRESHOLDS", "EXIT_DATA_QUALITY", "EXIT_INPUT_ERROR", "OPTIONAL_OPTIONS", "REJECT_REASONS", "REPAIRS",
    "REQUIRED_OPTIONS", "DataQualityError", "InputError", "JobOptions", "RawInput", "RecordRules", "assign_splits",
    "build_report", "choose_key", "classify", "classify_record", "decode_latin1_field", "deduplicate", "detect_format",
    "failure_message", "find_column", "finish", "local_spark", "main", "measure", "output_uris", "parse_options",
    "read_input", "record_rules", "require_label", "run_job", "write_outputs",
]
