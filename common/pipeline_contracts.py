"""The contracts the pipeline's parts share: S3 layout, split and metric names, tag key, exit codes, DQ defaults.

One small module, standard library only, installed as a top-level module like ``review_text`` and shipped beside it
wherever the code runs: the CDK stacks and the offline runner import it from the project, the Glue job gets it
through ``--extra-py-files`` and training through the root of ``sourcedir.tar.gz``. A value written here is the
value everywhere; ``cdk.json`` (``ds-on-aws.data_quality``) stays the place a user overrides the thresholds.

Layout of the curated bucket (or of ``--curated_uri`` offline), one set of prefixes per run::

    curated/<run_id>/<split>/                       training channels (JSON Lines, gzip)
    tables/reviews/run_id=<run_id>/split=<split>/   Parquet copy behind the catalog table ``reviews``
    quarantine/<run_id>/                            rejected rows with their reason
    reports/<run_id>/data_quality.json              the data-quality report and gate
    reports/<run_id>/duplicates/                    which review was collapsed into which

A scoring run (the cleaning job with ``--mode score``, then Batch Transform) writes under the same bucket::

    scoring/<run_id>/input/                         cleaned records to score, JSON Lines {"review_id", "text"}
    scoring/<run_id>/transform/                     Batch Transform output (one prediction line per input line)
    scoring/<run_id>/moderation/                    moderation results (JSON Lines, one row per checked record)
    tables/predictions/run_id=<run_id>/             Parquet predictions behind the catalog table ``predictions``
    quarantine/<run_id>/, reports/<run_id>/         as for training (data_quality.json, duplicates/)
    reports/<run_id>/scoring_summary.json           counts and shares per label, score histogram, extremes
"""

from __future__ import annotations

from types import MappingProxyType

# --- splits and metrics ----------------------------------------------------------------------------------------

SPLITS = ("train", "validation", "test")
TRAIN, VALIDATION, TEST = SPLITS
REQUIRED_CHANNELS = (TRAIN, VALIDATION)  # test is written only when the input marks rows as test

METRIC_NAMES = ("accuracy", "f1", "roc_auc")  # printed by training as "<split>:<metric>=<value>"
ACCURACY, F1, ROC_AUC = METRIC_NAMES


def metric_key(split: str, metric: str) -> str:
    """The name a metric has in the training log and in SageMaker (``validation:accuracy``)."""
    return f"{split}:{metric}"


GATE_METRIC = metric_key(VALIDATION, ACCURACY)  # what the model-quality gate compares


# --- S3 layout of the curated data -------------------------------------------------------------------------------

CURATED_PREFIX = "curated/"
TABLES_PREFIX = "tables/"
QUARANTINE_PREFIX = "quarantine/"
REPORTS_PREFIX = "reports/"
SCORING_PREFIX = "scoring/"
CURATED_OUTPUT_PREFIXES = (CURATED_PREFIX, TABLES_PREFIX, QUARANTINE_PREFIX, REPORTS_PREFIX,
                           SCORING_PREFIX)  # what the job writes
REVIEWS_TABLE = "reviews"
REVIEWS_TABLE_PREFIX = f"{TABLES_PREFIX}{REVIEWS_TABLE}/"
PREDICTIONS_TABLE = "predictions"
PREDICTIONS_TABLE_PREFIX = f"{TABLES_PREFIX}{PREDICTIONS_TABLE}/"
SCORING_SUMMARY = "scoring_summary.json"
MODES = ("train", "score")  # the cleaning job's --mode
# Columns a scoring run carries from its input to the predictions table when the input has them (``source`` to the
# table's ``source`` column, the others to its ``context`` map): where a record came from (a file, a call's audio),
# a call's turn and speaker, an image to moderate. ``scoring.context_columns`` in cdk.json chooses them.
SCORING_CONTEXT_COLUMNS = ("source", "call_id", "turn", "speaker", "channel", "start_time", "end_time", "image_key")
SOURCE_COLUMN = "source"
CONTEXT_COLUMN_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"  # lower-case names: Athena's map keys and JSON fields alike
RESERVED_CONTEXT_COLUMNS = ("review_id", "text", "context")
TRAIN_MODE, SCORE_MODE = MODES
DATA_QUALITY_REPORT = "data_quality.json"
DUPLICATES_FOLDER = "duplicates"


def curated_run_key(run_id: str) -> str:
    """``curated/<run_id>``: the parent of the run's channels."""
    return f"{CURATED_PREFIX}{run_id}"


def curated_split_key(run_id: str, split: str) -> str:
    """``curated/<run_id>/<split>``: one training channel."""
    return f"{curated_run_key(run_id)}/{split}"


def table_run_key(run_id: str) -> str:
    """``tables/reviews/run_id=<run_id>``: the run's table partitions (``split=<split>/`` below it)."""
    return f"{REVIEWS_TABLE_PREFIX}run_id={run_id}"


def quarantine_key(run_id: str) -> str:
    return f"{QUARANTINE_PREFIX}{run_id}"


def duplicates_key(run_id: str) -> str:
    return f"{REPORTS_PREFIX}{run_id}/{DUPLICATES_FOLDER}"


def report_key(run_id: str) -> str:
    """``reports/<run_id>/data_quality.json``."""
    return f"{REPORTS_PREFIX}{run_id}/{DATA_QUALITY_REPORT}"


def scoring_input_key(run_id: str) -> str:
    """``scoring/<run_id>/input``: what the cleaning job in score mode writes for Batch Transform."""
    return f"{SCORING_PREFIX}{run_id}/input"


def scoring_transform_key(run_id: str) -> str:
    """``scoring/<run_id>/transform``: Batch Transform's output for the run."""
    return f"{SCORING_PREFIX}{run_id}/transform"


def scoring_moderation_key(run_id: str) -> str:
    """``scoring/<run_id>/moderation``: the moderation step's results (Comprehend toxicity, Rekognition labels)."""
    return f"{SCORING_PREFIX}{run_id}/moderation"


def predictions_run_key(run_id: str) -> str:
    """``tables/predictions/run_id=<run_id>``: the run's partition of the predictions table."""
    return f"{PREDICTIONS_TABLE_PREFIX}run_id={run_id}"


def scoring_summary_key(run_id: str) -> str:
    """``reports/<run_id>/scoring_summary.json``."""
    return f"{REPORTS_PREFIX}{run_id}/{SCORING_SUMMARY}"


def scoring_outputs(curated_root: str, run_id: str) -> dict[str, str]:
    """Every output location of one scoring run under ``curated_root`` (an s3:// URI or a local folder)."""
    base = curated_root.rstrip("/")
    return {
        "scoring_input": f"{base}/{scoring_input_key(run_id)}",
        "transform": f"{base}/{scoring_transform_key(run_id)}",
        "moderation": f"{base}/{scoring_moderation_key(run_id)}",
        "predictions": f"{base}/{predictions_run_key(run_id)}",
        "quarantine": f"{base}/{quarantine_key(run_id)}",
        "duplicates": f"{base}/{duplicates_key(run_id)}",
        "report": f"{base}/{report_key(run_id)}",
        "summary": f"{base}/{scoring_summary_key(run_id)}",
    }


def run_outputs(curated_root: str, run_id: str) -> dict[str, str]:
    """Every output location of one run under ``curated_root`` (an s3:// URI or a local folder)."""
    base = curated_root.rstrip("/")
    return {
        "curated": f"{base}/{curated_run_key(run_id)}",
        "table": f"{base}/{table_run_key(run_id)}",
        "quarantine": f"{base}/{quarantine_key(run_id)}",
        "duplicates": f"{base}/{duplicates_key(run_id)}",
        "report": f"{base}/{report_key(run_id)}",
    }


# --- tags --------------------------------------------------------------------------------------------------------

STACK_TAG_KEY = "ds-on-aws:stack"  # on every SageMaker resource a run creates; the teardown deletes by it

# --- exit codes of the Glue job run locally and of the offline runner ---------------------------------------------

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2  # bad usage or unreadable input
EXIT_DATA_QUALITY = 3
EXIT_MODEL_QUALITY = 4
EXIT_ENDPOINT = 5
EXIT_CODE_MEANINGS = MappingProxyType({
    EXIT_OK: "ok",
    EXIT_UNEXPECTED: "unexpected error",
    EXIT_USAGE: "bad usage/input",
    EXIT_DATA_QUALITY: "data-quality gate refused",
    EXIT_MODEL_QUALITY: "model-quality gate refused",
    EXIT_ENDPOINT: "endpoint or smoke test failed",
})

# --- data-quality gate ---------------------------------------------------------------------------------------------

# The default thresholds (and split settings) of the data-quality gate, typed: an int default means an integer
# argument. ds_on_aws.config.DataQualityConfig takes its defaults from here, the Glue job too.
DATA_QUALITY_DEFAULTS = MappingProxyType({
    "min_rows": 1000,
    "max_quarantine_share": 0.05,
    "min_class_share": 0.35,
    "max_duplicate_share": 0.05,
    "min_text_chars": 10,
    "max_text_chars": 50000,
    "validation_share": 0.1,
    "seed": 42,
    # Labels and ratings: positive is rating >= 7, negative rating <= 4 (the IMDb dataset's definition; set 4 and 2
    # for a 5-star scale). A label that contradicts the rating is quarantined (label_rating_conflict).
    "positive_min_rating": 7,
    "negative_max_rating": 4,
    "label_from_rating": True,  # a missing or unknown label is derived from the rating when it decides
    "repair_label_spelling": True,  # "Positive.", "p", "postive" are read as the label they spell
    # Language: reviews confidently identified as another language are quarantined (foreign_language);
    # "" turns the rule off. Texts under language_min_chars are not judged.
    "language": "en",
    "language_min_confidence": 0.9,
    "language_min_chars": 40,
})

# --- the managed baseline and the evaluation report (artifacts bucket) ---------------------------------------------
#
#     baseline/<run_id>/input/documents.txt     Comprehend's input: one review per line (ONE_DOC_PER_LINE)
#     baseline/<run_id>/manifest.jsonl          line -> review_id, label, characters, shortened (line 0 = first)
#     baseline/<run_id>/output/                 Comprehend's output (.../output/output.tar.gz)
#     models/<run_id>/evaluation.json           the run's evaluation report: custom model vs Comprehend, costs
#
# The training job writes its per-review validation predictions to SM_OUTPUT_DATA_DIR, which SageMaker uploads as
# models/<run_id>/<training job>/output/output.tar.gz.

MODELS_PREFIX = "models/"
BASELINE_PREFIX = "baseline/"
BASELINE_INPUT_FILE = "documents.txt"
EVALUATION_REPORT = "evaluation.json"
VALIDATION_PREDICTIONS = "validation_predictions.json"  # inside the training job's output.tar.gz


def baseline_input_key(run_id: str) -> str:
    return f"{BASELINE_PREFIX}{run_id}/input/{BASELINE_INPUT_FILE}"


def baseline_manifest_key(run_id: str) -> str:
    return f"{BASELINE_PREFIX}{run_id}/manifest.jsonl"


def baseline_output_key(run_id: str) -> str:
    return f"{BASELINE_PREFIX}{run_id}/output/"


def evaluation_report_key(run_id: str) -> str:
    """Beside the run's model: ``models/<run_id>/evaluation.json``."""
    return f"{MODELS_PREFIX}{run_id}/{EVALUATION_REPORT}"


# --- voice feedback (the voice state machine and `ds-on-aws transcribe`) ---------------------------------------------
#
# Curated bucket:
#     transcripts/<run_id>/<job name>.json      Amazon Transcribe's transcript of one audio file of the run
# Raw bucket (under voice.records_prefix, itself under scoring.input_prefix, so a scoring run may read it):
#     <records_prefix><run_id>/feedback.ndjson   the run's feedback records (common/voice_records.py), scored next

TRANSCRIPTS_PREFIX = "transcripts/"
# JSON Lines under the .ndjson suffix: the cleaning job reads it as JSON Lines, and the scoring stack's upload trigger
# (which reacts to .jsonl, .csv...) does not start a second scoring run of records the voice run scores itself.
VOICE_RECORDS_FILE = "feedback.ndjson"


def transcript_key(run_id: str, job_name: str) -> str:
    return f"{TRANSCRIPTS_PREFIX}{run_id}/{job_name}.json"


def voice_records_key(records_prefix: str, run_id: str) -> str:
    return f"{records_prefix}{run_id}/{VOICE_RECORDS_FILE}"
