"""The scoring execution's state document: every JSONPath the scoring state machine reads or writes, defined once.

Same conventions as the training pipeline's ``stacks/state_machine/state.py`` (whose :class:`Field` is reused):
each field is the ``str`` of its JSONPath, with its declared sub-fields as attributes.
"""

from __future__ import annotations

from stacks.state_machine.state import ERROR, FAILURE, NOTIFY_ERROR, ErrorInfo, Field

__all__ = ["ERROR", "FAILURE", "NOTIFY_ERROR", "PREPARE", "RUN", "GLUE", "MODEL", "MODEL_ERROR", "LIVE",
           "TRANSFORM", "MODERATION", "MODERATION_ERROR", "BRANCHES", "MERGED", "PUBLISH", "SUMMARY"]


class Settings(Field):
    """The execution input merged over the defaults."""

    input_s3_uri: Field
    model_name: Field


class Merged(Field):
    settings: Settings


class Prepare(Field):
    """``$.prepare``: ``defaults`` (cdk.json), ``input`` (the execution input), ``merged``."""

    defaults: Field
    input: Field
    merged: Merged


PREPARE = Prepare("$.prepare")


class Names(Field):
    transform_job: Field


class Run(Field):
    """``$.run``: the scoring run's settings, names and locations, fixed for the whole execution."""

    run_id: Field
    input_s3_uri: Field
    model_name: Field
    names: Names
    scoring_input_uri: Field
    transform_output_uri: Field
    summary_key: Field
    summary_uri: Field
    predictions_uri: Field
    tags: Field


RUN = Run("$.run")


class Glue(Field):
    job_run_id: Field
    state: Field


GLUE = Glue("$.glue")


class Variant(Field):
    ModelName: Field


class LiveVariant(Field):
    variant: Variant


class Live(Field):
    """``$.live``: the live endpoint's DescribeEndpoint (name, config, status), then its config's first variant."""

    name: Field
    config: Field
    status: Field
    variant: LiveVariant


LIVE = Live("$.live")


class Model(Field):
    """``$.model``: the model the run scores with (``name``) and where it came from (``source``)."""

    name: Field
    source: Field


MODEL = Model("$.model")
MODEL_ERROR = ErrorInfo("$.model_error")


class Transform(Field):
    """``$.transform``: the finished transform job (name, status, output path)."""

    job_name: Field
    status: Field
    output: Field


TRANSFORM = Transform("$.transform")


class Moderation(Field):
    """``$.moderation`` (moderation on): the moderation step's result (``status`` COMPLETED | UNAVAILABLE, ``reason``,
    ``enabled``, ``toxicity_threshold``, ``counts``, ``output``), handed to the publish job as ``--moderation``;
    ``result`` holds it inside the moderation branch until the branch ends."""

    result: Field
    status: Field


MODERATION = Moderation("$.moderation")
MODERATION_ERROR = ErrorInfo("$.moderation_error")
BRANCHES = "$.branches"  # the Parallel's output: [scoring branch state, {"moderation": ...}]
MERGED = "$.merged"


class Publish(Field):
    job_run_id: Field
    state: Field


PUBLISH = Publish("$.publish")


class Summary(Field):
    """``$.summary``: the summary JSON document as read back from S3 (``body``, a string)."""

    body: Field


SUMMARY = Summary("$.summary")
