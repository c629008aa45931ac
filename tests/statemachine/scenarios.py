"""The paths of the pipeline, each described in ONE place: its input and every mocked service answer.

A path is a :class:`~tests.statemachine.harness.Scenario`. Most paths differ from the happy
first run by one or two answers, so they are built with :func:`pipeline` (the services of one
pipeline run, in AWS API shapes) and a few keyword arguments. To add a path: add a function here
returning its Scenario, register it in :data:`PATHS`, and assert on its result in
``test_paths.py`` (see docs/state-machine-tests.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tests.statemachine.harness import Ok, Responder, Scenario
from tests.statemachine.service_replies import (
    DEFAULT_METRICS,
    NEW_CONFIG,
    baseline_input_prepared,
    comprehend_job,
    comprehend_job_started,
    comprehend_job_stopping,
    created,
    data_quality_refused,
    described_training_job,
    endpoint,
    endpoint_not_found,
    endpoint_tags,
    evaluation_written,
    glue_job_run,
    predictions,
    published,
    service_error,
    tags_added,
    throttled,
    training_job,
)

ACCURACY_TAG = "ds-on-aws:validation-accuracy"  # the tag the pipeline records the live model's accuracy in
STACK_TAG = "ds-on-aws:stack"
LOOKUP_STATE = "Look up live endpoint"  # the state that asks DescribeEndpoint whether an endpoint is live
RESTORE_STATE = "Restore previous model"  # the state that points the endpoint back at the previous config
# What the job's FailureReason says when train.py refuses its input (the script's own reason, kept by the launcher).
TRAINING_FAILURE_REASON = (
    "AlgorithmError: training refused: invalid value for hyperparameter C: 'abc' is not a number, exit code: 2"
)
FAILURE_REASON = "Request to service failed. If failure persists after retry, contact customer support."
PREPARE_BASELINE = "Prepare baseline input"  # the baseline function's prepare step (lambda:invoke)
EVALUATE = "Evaluate run"  # the baseline function's evaluate step (lambda:invoke)
COMPREHEND_FAILURE = "NO_READ_ACCESS_TO_INPUT: The provided data access role does not have proper access to the input"


@dataclass(frozen=True)
class Live:
    """The endpoint already serving before the run (a later run), as DescribeEndpoint/ListTags show it."""

    endpoint_config: str = "ds-on-aws-cfg-previous-run"
    accuracy: float | None = 0.89  # None: the endpoint carries no accuracy tag (deployed by hand)


def pipeline(
    *,
    accuracy: float = 0.91,
    live: Live | None = None,
    rollout: Sequence[str | Responder] = ("Creating", "InService"),
    glue: Responder | None = None,
    training: Responder | None = None,
    overrides: Mapping[str, Responder | Sequence[Responder]] | None = None,
) -> dict:
    """The answers of every service of one pipeline run.

    ``accuracy``: the new model's ``validation:accuracy``; ``live``: the endpoint before the run
    (None = first run, DescribeEndpoint says "Could not find endpoint"); ``rollout``: the
    DescribeEndpoint statuses the wait loop sees after create/update (a status string means
    "this status, running the config this run created"); ``overrides``: answers replaced by API
    key or state name.
    """
    lookup = endpoint("InService", config=live.endpoint_config) if live else endpoint_not_found()
    tags = {STACK_TAG: "DsOnAws-Pipeline"}
    if live and live.accuracy is not None:
        tags[ACCURACY_TAG] = str(live.accuracy)
    polls = [endpoint(step, config=NEW_CONFIG) if isinstance(step, str) else step for step in rollout]
    responses: dict = {
        "glue:startJobRun": glue or glue_job_run(),
        "sagemaker:createTrainingJob": training
        or training_job(metrics={**DEFAULT_METRICS, "validation:accuracy": accuracy}),
        # Asked only after a training failure, for its reason.
        "sagemaker:describeTrainingJob": described_training_job("Failed", TRAINING_FAILURE_REASON),
        # The live-endpoint lookup is its own state (its retries get the same answer); every other
        # DescribeEndpoint is a poll of the wait loop.
        LOOKUP_STATE: lookup,
        "sagemaker:describeEndpoint": polls,
        "sagemaker:listTags": endpoint_tags(tags) if live else endpoint_not_found(),
        "sagemaker:createModel": created("model"),
        "sagemaker:createEndpointConfig": created("endpoint-config"),
        "sagemaker:createEndpoint": created("endpoint"),
        "sagemaker:updateEndpoint": created("endpoint"),
        "sagemaker:addTags": tags_added(),
        "sagemakerruntime:invokeEndpoint": predictions(),
        "sns:publish": published(),
        # The managed baseline beside training: the job is in progress at the first poll, completed at the second.
        PREPARE_BASELINE: baseline_input_prepared(),
        "comprehend:startSentimentDetectionJob": comprehend_job_started(),
        "comprehend:describeSentimentDetectionJob": [comprehend_job("IN_PROGRESS"), comprehend_job("COMPLETED")],
        "comprehend:stopSentimentDetectionJob": comprehend_job_stopping(),
        EVALUATE: evaluation_written(),
    }
    responses.update(overrides or {})
    return responses


# ---- the paths ------------------------------------------------------------------------------


def path(name: str, *, input: dict | None = None, live: Live | None = None, **world) -> Scenario:
    """A scenario whose answers are :func:`pipeline`'s, recording ``live`` as a fact for the assertions."""
    return Scenario(name, input=dict(input or {}), responses=pipeline(live=live, **world), facts={"live": live})


def first_run() -> Scenario:
    """No endpoint yet: the run creates it, waits for InService, smoke-tests, tags, notifies."""
    return path("first-run")


def later_run() -> Scenario:
    """A live endpoint (accuracy 0.89) exists; the new model (0.91) replaces it by UpdateEndpoint."""
    return path("later-run", live=Live(), rollout=("Updating", "Updating", "InService"))


def glue_refuses_data() -> Scenario:
    """The cleaning job's data-quality gate refuses the data: the Glue run ends FAILED."""
    return path("glue-fails", live=Live(), glue=data_quality_refused())


def below_threshold() -> Scenario:
    """The new model (0.80) is below the configured minimum accuracy (0.88)."""
    return path("below-threshold", live=Live(), accuracy=0.80)


def worse_than_live() -> Scenario:
    """The new model (0.90) passes the threshold but is worse than the live one (0.93)."""
    return path("worse-than-live", live=Live(accuracy=0.93), accuracy=0.90)


def endpoint_fails() -> Scenario:
    """First run: the new endpoint ends Failed (e.g. the model container never answers /ping)."""
    failed = endpoint("Failed", config=NEW_CONFIG, failure_reason=FAILURE_REASON)
    return path("endpoint-failed", rollout=("Creating", failed), overrides={"sagemaker:deleteEndpoint": Ok({})})


def update_rolled_back() -> Scenario:
    """Later run: the update fails and SageMaker rolls back: InService again, but on the OLD config."""
    live = Live()
    rolled_back = endpoint("InService", config=live.endpoint_config)
    return path("update-rolled-back", live=live, rollout=("Updating", rolled_back))


def throttled_then_ok(key: str, live: Live | None = None) -> Scenario:
    """The first call answered under ``key`` (API key or state name) is throttled; the retry succeeds."""
    scenario = path(f"throttled-{key.split(':')[-1].replace(' ', '-')}", live=live)
    answers = scenario.responses[key]
    scenario.responses[key] = [throttled(), *(answers if isinstance(answers, list) else [answers])]
    return scenario


#: The default ``raw_s3_uri`` of the synthesized definition: ``s3://<raw bucket>/<raw_prefix>``, with the
#: raw bucket's sample name from ``resolve_definition`` (checked by test_empty_input_runs_the_default_pipeline).
RAW_S3_URI = "s3://dsonaws-data-raw-bucket/imdb/"

OVERRIDE_INPUT = {
    # The pipeline accepts only locations under the raw prefix (its roles may read nothing else).
    "raw_s3_uri": RAW_S3_URI + "2026-11/",
    "hyperparameters": {"C": "0.5", "max_features": "20000"},
    "min_accuracy": 0.9,
    "endpoint_name": "ds-on-aws-canary",
}


def with_overrides() -> Scenario:
    """An input that overrides data location, hyperparameters, threshold and endpoint name."""
    return path("overrides", input=OVERRIDE_INPUT, accuracy=0.92)


def overrides_raise_threshold() -> Scenario:
    """The input's min_accuracy (0.95) rejects a model the default threshold (0.88) would accept."""
    return path("override-threshold", input={"min_accuracy": 0.95}, accuracy=0.92)


def empty_input() -> Scenario:
    """``{}`` from the console: the default pipeline (same world as first_run, its own assertions)."""
    return path("empty-input")


def no_deploy() -> Scenario:
    """``deploy: false``: train and gate, then stop with success, touching no endpoint."""
    return path("no-deploy", input={"deploy": False}, live=Live())


def update_fails() -> Scenario:
    """Later run: the endpoint update ends Failed (the live endpoint keeps serving the old config)."""
    failed = endpoint("Failed", config=NEW_CONFIG, failure_reason=FAILURE_REASON)
    return path("update-failed", live=Live(), rollout=("Updating", failed))


def endpoint_never_ready() -> Scenario:
    """First run: the endpoint stays Creating; the wait loop gives up after endpoint.max_wait_attempts."""
    return path("endpoint-never-ready", rollout=("Creating",))


def endpoint_unexpected_status() -> Scenario:
    """First run: DescribeEndpoint answers a status the wait loop does not expect (OutOfService)."""
    return path("endpoint-unexpected-status", rollout=("Creating", "OutOfService"))


def smoke_test_without_predictions() -> Scenario:
    """The endpoint answers 200 but without the inference contract's predictions."""
    body = Ok(
        {"Body": '{"unexpected": true}', "ContentType": "application/json", "InvokedProductionVariant": "AllTraffic"}
    )
    return path("smoke-test-invalid", overrides={"sagemakerruntime:invokeEndpoint": body})


def live_endpoint_busy() -> Scenario:
    """The live endpoint is Updating (another deployment runs): this run must not touch it."""
    live = Live()
    busy = endpoint("Updating", config=live.endpoint_config)
    return path("live-endpoint-busy", live=live, overrides={LOOKUP_STATE: busy})


def live_lookup_denied() -> Scenario:
    """DescribeEndpoint of the live endpoint is denied (not "not found"): never treat it as a first run."""
    denied = service_error(
        "AccessDeniedException",
        "User: arn:aws:sts::123456789012:assumed-role/StateMachineRole/run is not authorized to perform: "
        "sagemaker:DescribeEndpoint on resource: arn:aws:sagemaker:us-east-1:123456789012:endpoint/ds-on-aws-sentiment",
    )
    return path("live-lookup-denied", live=Live(), overrides={LOOKUP_STATE: denied})


def live_endpoint_without_accuracy() -> Scenario:
    """A live endpoint without the accuracy tag (deployed by hand): only the threshold gates the model."""
    return path("live-without-accuracy", live=Live(accuracy=None), rollout=("Updating", "InService"))


def training_without_accuracy() -> Scenario:
    """The training job completed but reported no validation:accuracy metric."""
    metrics = {k: v for k, v in DEFAULT_METRICS.items() if k != "validation:accuracy"}
    return path("no-accuracy-metric", training=training_job(metrics=metrics))


def training_fails() -> Scenario:
    """The training job fails (the script refused a hyperparameter): the notice carries its reason and log."""
    return path(
        "training-fails",
        training=training_job(status="Failed", failure_reason=TRAINING_FAILURE_REASON),
        overrides={"sagemaker:describeTrainingJob": described_training_job("Failed", TRAINING_FAILURE_REASON)},
    )


def training_stopped() -> Scenario:
    """The training job was stopped (by hand, or the max wait ran out): no FailureReason to report."""
    return path(
        "training-stopped",
        training=training_job(status="Stopped"),
        overrides={"sagemaker:describeTrainingJob": described_training_job("Stopped")},
    )


def training_not_started() -> Scenario:
    """CreateTrainingJob itself is refused (no spot capacity quota): the generic failure path names the error."""
    refused = service_error(
        "ResourceLimitExceeded",
        "The account-level service limit 'ml.m5.large for spot training job usage' is 0 Instances",
    )
    missing = service_error("ValidationException", "Requested resource not found.")
    return path("training-not-started", training=refused, overrides={"sagemaker:describeTrainingJob": missing})


def training_fails_undescribed() -> Scenario:
    """The job failed and describing it fails too: the generic failure path with the original cause."""
    denied = service_error("AccessDeniedException", "not authorized to perform: sagemaker:DescribeTrainingJob")
    return path(
        "training-fails-undescribed",
        training=training_job(status="Failed", failure_reason=TRAINING_FAILURE_REASON),
        overrides={"sagemaker:describeTrainingJob": denied},
    )


def invalid_input() -> Scenario:
    """An execution input of the wrong type is refused before any job starts."""
    return path("invalid-input", input={"min_accuracy": "high", "hyperparameters": {"C": "0.5"}})


def raw_uri_outside_raw_prefix() -> Scenario:
    """An input pointing the Glue job at another bucket: refused before any job (its role could not read it)."""
    return path("raw-uri-outside-raw-prefix", input={"raw_s3_uri": "s3://someone-elses-bucket/reviews/"})


def smoke_test_fails_after_update() -> Scenario:
    """Later run: the update reaches InService but the smoke test gets no predictions: restore the old config."""
    body = Ok(
        {"Body": '{"unexpected": true}', "ContentType": "application/json", "InvokedProductionVariant": "AllTraffic"}
    )
    return path(
        "smoke-test-fails-after-update",
        live=Live(),
        rollout=("Updating", "InService"),
        overrides={"sagemakerruntime:invokeEndpoint": body},
    )


def restore_fails() -> Scenario:
    """As above, and the UpdateEndpoint back to the previous config fails too."""
    scenario = smoke_test_fails_after_update()
    scenario.name = "restore-fails"
    scenario.responses[RESTORE_STATE] = service_error("ValidationException", "Cannot update in-progress endpoint")
    return scenario


def baseline_job_fails() -> Scenario:
    """The Comprehend job ends FAILED with a message: the baseline is unavailable, the run deploys as usual."""
    failed = comprehend_job("FAILED", COMPREHEND_FAILURE)
    return path("baseline-job-fails", overrides={"comprehend:describeSentimentDetectionJob": [failed]})


def baseline_job_stopped() -> Scenario:
    """The Comprehend job was stopped by someone (no Message): unavailable, with the status as the reason."""
    stopped = comprehend_job("STOPPED")
    return path("baseline-job-stopped", overrides={"comprehend:describeSentimentDetectionJob": [stopped]})


def baseline_times_out() -> Scenario:
    """The Comprehend job never ends within baseline.max_wait_seconds: it is stopped, the run goes on."""
    running = comprehend_job("IN_PROGRESS")
    return path("baseline-times-out", overrides={"comprehend:describeSentimentDetectionJob": [running]})


def baseline_not_started() -> Scenario:
    """StartSentimentDetectionJob is refused (no Comprehend in the region, a quota): unavailable with the error."""
    refused = service_error("UnsupportedLanguageException", "Comprehend is not available for this request")
    return path("baseline-not-started", overrides={"comprehend:startSentimentDetectionJob": refused})


def transformer_recipe() -> Scenario:
    """``{"recipe": "transformer"}``: the GPU fine-tuning job (spot, checkpoints, staged weights), then the same gate
    and hosting with the transformer's serving image."""
    return path("transformer", input={"recipe": "transformer", "hyperparameters": {"epochs": "3"}}, accuracy=0.93)


def transformer_below_threshold() -> Scenario:
    """The transformer recipe meets the same model gate: below the threshold, no endpoint is touched."""
    return path("transformer-below-threshold", input={"recipe": "transformer"}, live=Live(), accuracy=0.70)


TRANSFORMER_FAILURE_REASON = (
    "AlgorithmError: training refused: no pretrained weights for 'distilbert-base-uncased': the job is "
    "network-isolated, so they must arrive as the 'pretrained' channel, exit code: 2"
)


def transformer_fails() -> Scenario:
    """The fine-tuning job fails: the same failure report as the linear job, with the script's reason."""
    return path(
        "transformer-fails",
        input={"recipe": "transformer"},
        training=training_job(status="Failed", failure_reason=TRANSFORMER_FAILURE_REASON),
        overrides={"sagemaker:describeTrainingJob": described_training_job("Failed", TRANSFORMER_FAILURE_REASON)},
    )


def unknown_recipe() -> Scenario:
    """A recipe that does not exist is refused before any job starts."""
    return path("unknown-recipe", input={"recipe": "xgboost"})


PATHS: dict[str, Callable[[], Scenario]] = {
    "first-run": first_run,
    "later-run": later_run,
    "glue-fails": glue_refuses_data,
    "below-threshold": below_threshold,
    "worse-than-live": worse_than_live,
    "endpoint-failed": endpoint_fails,
    "update-rolled-back": update_rolled_back,
    "overrides": with_overrides,
    "override-threshold": overrides_raise_threshold,
    "empty-input": empty_input,
    "no-deploy": no_deploy,
    "update-failed": update_fails,
    "endpoint-never-ready": endpoint_never_ready,
    "endpoint-unexpected-status": endpoint_unexpected_status,
    "smoke-test-invalid": smoke_test_without_predictions,
    "live-endpoint-busy": live_endpoint_busy,
    "live-lookup-denied": live_lookup_denied,
    "live-without-accuracy": live_endpoint_without_accuracy,
    "no-accuracy-metric": training_without_accuracy,
    "training-fails": training_fails,
    "training-stopped": training_stopped,
    "training-fails-undescribed": training_fails_undescribed,
    "training-not-started": training_not_started,
    "invalid-input": invalid_input,
    "raw-uri-outside-raw-prefix": raw_uri_outside_raw_prefix,
    "smoke-test-fails-after-update": smoke_test_fails_after_update,
    "restore-fails": restore_fails,
    "baseline-job-fails": baseline_job_fails,
    "baseline-job-stopped": baseline_job_stopped,
    "baseline-times-out": baseline_times_out,
    "baseline-not-started": baseline_not_started,
    "transformer": transformer_recipe,
    "transformer-below-threshold": transformer_below_threshold,
    "unknown-recipe": unknown_recipe,
    "transformer-fails": transformer_fails,
}
