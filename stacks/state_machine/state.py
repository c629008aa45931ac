"""The execution's state document: every JSONPath the state machine reads or writes, defined once.

Each field is a :class:`Field`, a ``str`` that is its JSONPath (``RUN.names.training_job == "$.run.names.training_job"``)
and has its declared sub-fields as attributes. The classes below are the document's schema, in the order a run
fills it in; the state that writes a field is named in its class's docstring. Paths into a service's answer (a task's
``ResultSelector``) are written with :func:`answer`; paths of the context object are ``EXECUTION_*``.
"""

from __future__ import annotations

import typing


class Field(str):
    """A JSONPath of the state document; its annotated class attributes are its sub-fields."""

    def __new__(cls, path: str) -> Field:
        field = super().__new__(cls, path)
        for name, kind in typing.get_type_hints(cls).items():
            setattr(field, name, kind(f"{path}.{name}"))
        return field


def first(field: str) -> str:
    """The first element of the list at ``field`` (``$.x.values[0]``)."""
    return f"{field}[0]"


def answer(name: str) -> str:
    """``$.<name>`` of a task's own result (in a ``ResultSelector``), not of the state document."""
    return f"$.{name}"


EXECUTION_INPUT = "$$.Execution.Input"
EXECUTION_ID = "$$.Execution.Id"


class ErrorInfo(Field):
    """What a ``Catch`` records with its ``ResultPath``."""

    Error: Field
    Cause: Field


# --- written by "Load defaults", "Merge input over defaults" ---------------------------------------------------------


class Defaults(Field):
    hyperparameters: Field


class Settings(Field):
    """The execution input merged over the defaults (every field present after the merge)."""

    raw_s3_uri: Field
    min_accuracy: Field
    endpoint_name: Field
    deploy: Field
    hyperparameters: Field
    recipe: Field


class UserInput(Field):
    """The execution input over empty hyperparameters: ``hyperparameters`` is the input's own, or ``{}``."""

    hyperparameters: Field


class Merged(Field):
    settings: Settings
    user: UserInput


class TransformerDefaults(Field):
    hyperparameters: Field


class Prepare(Field):
    """``$.prepare``: ``defaults`` (cdk.json), ``script_mode`` (the training job's fixed keys), ``input``, ``merged``;
    the transformer recipe's ``transformer_defaults`` and ``transformer_script_mode``."""

    defaults: Defaults
    script_mode: Field
    transformer_defaults: TransformerDefaults
    transformer_script_mode: Field
    no_hyperparameters: Field
    input: Field
    merged: Merged


PREPARE = Prepare("$.prepare")


# --- written by "Derive run names" (and kept alone by "Keep run settings") -------------------------------------------


class Names(Field):
    training_job: Field
    model: Field
    endpoint_config: Field


class Channels(Field):
    train: Field
    validation: Field


class Run(Field):
    """``$.run``: the run's settings and names, fixed for the whole execution."""

    run_id: Field
    raw_s3_uri: Field
    min_accuracy: Field
    endpoint_name: Field
    deploy: Field
    hyperparameters: Field
    recipe: Field
    transformer_hyperparameters: Field
    names: Names
    channels: Channels
    model_output_uri: Field
    checkpoint_uri: Field
    tags: Field


RUN = Run("$.run")


# --- written by "Clean reviews", "Train model", "Read validation accuracy", "Keep validation accuracy" ---------------


class Glue(Field):
    job_run_id: Field
    state: Field


GLUE = Glue("$.glue")


class ModelArtifacts(Field):
    S3ModelArtifacts: Field


class TrainingJob(Field):
    """``$.training_job``: the whole DescribeTrainingJob answer (``FinalMetricDataList`` is optional)."""

    TrainingJobName: Field
    ModelArtifacts: ModelArtifacts
    FinalMetricDataList: Field


class TransformerRun(Field):
    """``$.transformer``: "Locate pretrained weights" (the transformer recipe only)."""

    pretrained_uri: Field


TRANSFORMER = TransformerRun("$.transformer")


class Serving(Field):
    """``$.serving``: the serving image of the recipe that trained the model ("Serve with ... image")."""

    image: Field


SERVING = Serving("$.serving")

TRAINING_JOB = TrainingJob("$.training_job")
VALIDATION_ACCURACY_VALUES = f"{TRAINING_JOB.FinalMetricDataList}[?(@.MetricName == 'validation:accuracy')].Value"


class Training(Field):
    """``$.training``: the job name, the model archive and the validation accuracy values (0 or 1 of them)."""

    job_name: Field
    model_data_url: Field
    values: Field


TRAINING = Training("$.training")


class Described(Field):
    FailureReason: Field


class TrainingFailure(Field):
    """``$.training_failure``: "Describe failed training job" (only on the failure path)."""

    status: Field
    described: Described


TRAINING_FAILURE = TrainingFailure("$.training_failure")
DESCRIBE_ERROR = ErrorInfo("$.describe_error")


class Gate(Field):
    accuracy: Field


GATE = Gate("$.gate")


# --- written by the live-endpoint lookup ----------------------------------------------------------------------------


class Live(Field):
    """``$.live``: the live endpoint (``exists``, ``has_accuracy`` and ``accuracy`` are always present)."""

    exists: Field
    has_accuracy: Field
    accuracy: Field
    name: Field
    arn: Field
    status: Field
    config: Field


LIVE = Live("$.live")
LIVE_ERROR = ErrorInfo("$.live_error")


class LiveTags(Field):
    """``$.live_tags``: the ListTags answer, then the values of the accuracy tag."""

    Tags: Field
    values: Field


LIVE_TAGS = LiveTags("$.live_tags")


def tag_values(key: str) -> str:
    """The values of tag ``key`` in the listed tags."""
    return f"{LIVE_TAGS.Tags}[?(@.Key == '{key}')].Value"


# --- written by the gate and the hosting steps ----------------------------------------------------------------------


class Rejection(Field):
    message: Field


REJECTION = Rejection("$.rejection")


class Wait(Field):
    attempt: Field


WAIT = Wait("$.wait")


class Endpoint(Field):
    """``$.endpoint``: the last DescribeEndpoint answer of the wait loop."""

    EndpointStatus: Field
    EndpointConfigName: Field
    EndpointArn: Field


ENDPOINT = Endpoint("$.endpoint")


class SmokeTest(Field):
    body: Field


SMOKE_TEST = SmokeTest("$.smoke_test")
RESTORE_ERROR = ErrorInfo("$.restore_error")


# --- the failure path -----------------------------------------------------------------------------------------------


class Failure(Field):
    """``$.failure``: which step failed, the execution's error name and the message notified and failed with."""

    step: Field
    error: Field
    message: Field


FAILURE = Failure("$.failure")
ERROR = ErrorInfo("$.error")
NOTIFY_ERROR = ErrorInfo("$.notify_error")


# --- the managed baseline beside training, and the run's evaluation -------------------------------------------------


class BaselineStarted(Field):
    """``$.baseline.started``: the Comprehend job id and the number of polls so far."""

    job_id: Field
    attempt: Field


class BaselineJob(Field):
    """The last DescribeSentimentDetectionJob ``SentimentDetectionJobProperties`` (``Message`` is optional)."""

    JobStatus: Field
    Message: Field


class BaselinePoll(Field):
    job: BaselineJob


class BaselineResult(Field):
    """``$.baseline.result``: ``status`` (COMPLETED, FAILED, STOPPED, TIMED_OUT, UNAVAILABLE, disabled), ``reason``,
    ``job`` (the last job description) and ``prepared`` (what the input holds)."""

    status: Field
    reason: Field


class Baseline(Field):
    """``$.baseline`` inside the baseline branch: ``prepared`` (the Lambda's answer), ``started``, ``poll``,
    ``result``; after the branches merge, ``$.baseline`` is the result alone."""

    prepared: Field
    started: BaselineStarted
    poll: BaselinePoll
    result: BaselineResult


BASELINE = Baseline("$.baseline")
BASELINE_ERROR = ErrorInfo("$.baseline_error")
#: ``$.branches``: the outputs of the Parallel's two branches (training's document, then ``{"baseline": ...}``).
BRANCHES = "$.branches"
MERGED = "$.merged"


class Evaluation(Field):
    """``$.evaluation``: the evaluation Lambda's ``report_uri`` and ``summary`` (the notification's lines)."""

    report_uri: Field
    summary: Field


EVALUATION = Evaluation("$.evaluation")
EVALUATION_ERROR = ErrorInfo("$.evaluation_error")
