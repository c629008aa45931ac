"""Every path of the synthesized pipeline state machine, executed in moto's interpreter.

Each test runs one scenario (tests/statemachine/scenarios.py: its input and every mocked service
answer) against the definition ``cdk synth`` produces, and asserts the final status, the states
entered, the SNS notifications and the service calls with their key parameters. On every failure
path it also asserts that nothing updated or deleted the live endpoint.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.statemachine import scenarios
from tests.statemachine.harness import ExecutionResult, run_execution
from tests.statemachine.scenarios import ACCURACY_TAG, OVERRIDE_INPUT, Live

HOSTING_WRITES = (
    "sagemaker:createModel",
    "sagemaker:createEndpointConfig",
    "sagemaker:createEndpoint",
    "sagemaker:updateEndpoint",
    "sagemaker:deleteEndpoint",
    "sagemaker:deleteEndpointConfig",
    "sagemaker:deleteModel",
    "sagemaker:addTags",
)
LIVE_ENDPOINT_WRITES = (
    "sagemaker:updateEndpoint",
    "sagemaker:updateEndpointWeightsAndCapacities",
    "sagemaker:deleteEndpoint",
    "sagemaker:deleteEndpointConfig",
    "sagemaker:deleteModel",
)


@pytest.fixture(scope="module")
def run_path(path_results):
    """``run_path(name)`` -> the result of path ``name`` (all paths run once per session)."""
    return path_results.__getitem__


# ---- shared assertions --------------------------------------------------------------------------


def only_call(result: ExecutionResult, api: str):
    calls = result.calls_to(api)
    assert len(calls) == 1, f"expected exactly one {api} call, got {len(calls)}\n{result.explain()}"
    return calls[0]


def assert_live_endpoint_untouched(result: ExecutionResult, *, allowed: tuple[str, ...] = ()) -> None:
    """No call updated or deleted the live endpoint, its config or its models (``allowed``: the deploy attempt)."""
    offending = [c for c in result.calls if c.api in LIVE_ENDPOINT_WRITES and c.api not in allowed]
    assert not offending, (
        "a failed run touched the live endpoint: "
        + ", ".join(c.describe() for c in offending)
        + ("\n" + result.explain())
    )


EVALUATION_SUBJECT = "run evaluation"  # the evaluation notice of every run that trained (asserted on its own)


def outcome_notices(result: ExecutionResult) -> list[dict]:
    """The notifications of the run's outcome: all but the evaluation notice."""
    return [n for n in result.notifications if EVALUATION_SUBJECT not in (n["subject"] or "")]


def assert_one_failure_notice(result: ExecutionResult, *needles: str, subject: str = "FAILED") -> dict:
    """Exactly one outcome notification, whose subject says ``subject`` and whose text names every ``needles``."""
    notes = outcome_notices(result)
    assert len(notes) == 1, f"expected one notification, got {notes}\n{result.explain()}"
    text = json.dumps(notes[0]["message"]) if not isinstance(notes[0]["message"], str) else notes[0]["message"]
    assert subject.upper() in (notes[0]["subject"] or "").upper(), notes[0]
    for needle in needles:
        assert needle in text, f"the failure notice does not mention {needle!r}: {text}\n{result.explain()}"
    return notes[0]


def assert_failed_with(result: ExecutionResult, error: str, *cause_needles: str) -> None:
    result.assert_status("FAILED")
    assert result.error == error, f"expected error {error}, got {result.error}\n{result.explain()}"
    for needle in cause_needles:
        assert needle in (result.cause or ""), f"cause does not mention {needle!r}: {result.cause}"


# ---- happy paths -------------------------------------------------------------------------------


def test_first_run_creates_the_endpoint(run_path, pipeline_config):
    result = run_path("first-run")
    result.assert_status("SUCCEEDED")
    endpoint_name = pipeline_config.endpoint.name
    # The baseline branch runs beside training (its calls interleave with training's): asserted on its own.
    baseline_apis = ("comprehend:", "lambda:")
    assert [api for api in result.call_sequence(retries=False) if not api.startswith(baseline_apis)] == [
        "glue:startJobRun",
        "sagemaker:createTrainingJob",
        "sns:publish",  # the evaluation notice
        "sagemaker:describeEndpoint",  # live endpoint lookup: not found (retried: not-found shares its error name)
        "sagemaker:createModel",
        "sagemaker:createEndpointConfig",
        "sagemaker:createEndpoint",
        "sagemaker:describeEndpoint",  # Creating
        "sagemaker:describeEndpoint",  # InService
        "sagemakerruntime:invokeEndpoint",
        "sagemaker:addTags",
        "sns:publish",
    ], result.explain()
    result.assert_states_in_order(
        [
            "Create model",
            "Create endpoint config",
            "Create endpoint",
            "Wait for endpoint",
            "Describe endpoint",
            "Smoke test endpoint",
            "Record live model accuracy",
            "Notify deployed",
            "Deployed",
        ]
    )
    result.assert_not_entered(["Update live endpoint"])

    training = only_call(result, "sagemaker:createTrainingJob")
    model = only_call(result, "sagemaker:createModel")
    config = only_call(result, "sagemaker:createEndpointConfig")
    create = only_call(result, "sagemaker:createEndpoint")
    assert create.parameters["EndpointName"] == endpoint_name
    assert create.parameters["EndpointConfigName"] == config.parameters["EndpointConfigName"]
    variant = config.parameters["ProductionVariants"][0]
    assert variant["ModelName"] == model.parameters["ModelName"]
    assert "ServerlessConfig" in variant  # serverless by default (cdk.json endpoint.mode)
    # The model serves the artifact this run's training job wrote.
    training_job_name = training.parameters["TrainingJobName"]
    assert model.parameters["PrimaryContainer"]["ModelDataUrl"].endswith(f"/{training_job_name}/output/model.tar.gz")
    environment = model.parameters["PrimaryContainer"]["Environment"]
    assert environment["SAGEMAKER_PROGRAM"] == "inference.py"
    # Training gets its code as the "code" channel; serving runs the copy the job put inside model.tar.gz.
    hyperparameters = training.parameters["HyperParameters"]
    assert hyperparameters["sagemaker_submit_directory"] == "/opt/ml/input/data/code/sourcedir.tar.gz"
    code = [c for c in training.parameters["InputDataConfig"] if c["ChannelName"] == "code"]
    assert len(code) == 1 and code[0]["DataSource"]["S3DataSource"]["S3Uri"].startswith("s3://")
    assert environment["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert environment["PIP_NO_BUILD_ISOLATION"] == "false"
    # Smoke test: a JSON body of reviews to the new endpoint.
    smoke = only_call(result, "sagemakerruntime:invokeEndpoint")
    assert smoke.parameters["EndpointName"] == endpoint_name
    assert len(json.loads(smoke.parameters["Body"])["instances"]) >= 1
    # The accuracy is recorded on the endpoint for the next run's comparison.
    tags = {t["Key"]: t["Value"] for t in only_call(result, "sagemaker:addTags").parameters["Tags"]}
    assert float(tags[ACCURACY_TAG]) == pytest.approx(0.91)
    # One success notification naming the endpoint.
    (note,) = outcome_notices(result)
    assert "deployed" in note["subject"].lower()
    assert endpoint_name in str(note["message"]) and "0.91" in str(note["message"])


def test_names_are_unique_per_run_and_valid_for_sagemaker(run_path):
    pattern = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
    names = {}
    for path in ("first-run", "later-run"):
        result = run_path(path)
        names[path] = (
            only_call(result, "sagemaker:createTrainingJob").parameters["TrainingJobName"],
            only_call(result, "sagemaker:createModel").parameters["ModelName"],
            only_call(result, "sagemaker:createEndpointConfig").parameters["EndpointConfigName"],
        )
        for name in names[path]:
            assert re.match(pattern, name), f"{name!r} is not a valid SageMaker name"
    assert set(names["first-run"]).isdisjoint(names["later-run"]), names


def test_later_run_updates_the_existing_endpoint(run_path, pipeline_config):
    result = run_path("later-run")
    result.assert_status("SUCCEEDED")
    assert not result.calls_to("sagemaker:createEndpoint"), result.explain()
    update = only_call(result, "sagemaker:updateEndpoint")
    config = only_call(result, "sagemaker:createEndpointConfig")
    assert update.parameters["EndpointName"] == pipeline_config.endpoint.name
    assert update.parameters["EndpointConfigName"] == config.parameters["EndpointConfigName"]
    assert update.parameters["EndpointConfigName"] != Live().endpoint_config
    result.assert_states_in_order(["Update live endpoint", "Wait for endpoint", "Smoke test endpoint", "Deployed"])
    result.assert_not_entered(["Create endpoint"])
    # Updating, Updating, InService: three polls, each after a skipped Wait of the configured length.
    polls = result.calls_to("sagemaker:describeEndpoint")[1:]
    assert len(polls) == 3
    waits = [s.seconds for s in result.sleeps if s.kind == "wait" and s.state == "Wait for endpoint"]
    assert waits == [pipeline_config.endpoint.wait_seconds] * 3
    for forbidden in ("sagemaker:deleteEndpoint", "sagemaker:deleteEndpointConfig", "sagemaker:deleteModel"):
        assert not result.calls_to(forbidden), result.explain()


def test_no_deploy_stops_after_the_gate(run_path):
    result = run_path("no-deploy")
    result.assert_status("SUCCEEDED")
    assert not [c for c in result.calls if c.api in HOSTING_WRITES], result.explain()
    assert_live_endpoint_untouched(result)


# ---- failure paths ------------------------------------------------------------------------------


def test_glue_failure_stops_the_run_before_training(run_path):
    result = run_path("glue-fails")
    result.assert_status("FAILED")
    assert not result.error.startswith("States."), f"reserved error name re-raised: {result.error}\n{result.explain()}"
    assert "Clean reviews" in result.cause and "Data quality gate refused" in result.cause, result.explain()
    assert result.call_sequence() == ["glue:startJobRun", "sns:publish"], result.explain()
    assert_one_failure_notice(result, "Data quality gate refused", "min_class_share")
    assert_live_endpoint_untouched(result)


def test_model_below_threshold_is_rejected(run_path, pipeline_config):
    result = run_path("below-threshold")
    threshold = str(pipeline_config.model_quality.min_accuracy)
    assert_failed_with(result, "ModelRejected", "0.8", threshold)
    assert not [c for c in result.calls if c.api in HOSTING_WRITES], result.explain()
    assert_one_failure_notice(result, "0.8", threshold, subject="REJECTED")
    assert_live_endpoint_untouched(result)


def test_model_worse_than_live_is_rejected(run_path):
    result = run_path("worse-than-live")
    assert_failed_with(result, "ModelRejected", "0.9", "0.93")
    assert only_call(result, "sagemaker:listTags")  # the live accuracy was read
    assert not [c for c in result.calls if c.api in HOSTING_WRITES], result.explain()
    assert_one_failure_notice(result, "0.9", "0.93", subject="REJECTED")
    assert_live_endpoint_untouched(result)


def test_new_endpoint_that_ends_failed_fails_the_run(run_path):
    result = run_path("endpoint-failed")
    assert_failed_with(result, "EndpointFailed")
    assert_one_failure_notice(result, scenarios.FAILURE_REASON)
    # No live endpoint existed: the only allowed delete is of the endpoint this run created.
    for call in result.calls_to("sagemaker:deleteEndpoint"):
        assert (
            call.parameters["EndpointName"] == only_call(result, "sagemaker:createEndpoint").parameters["EndpointName"]
        )
    assert_live_endpoint_untouched(result, allowed=("sagemaker:deleteEndpoint",))
    assert not result.calls_to("sagemakerruntime:invokeEndpoint")


def test_update_that_rolled_back_fails_the_run_and_keeps_the_live_model(run_path):
    result = run_path("update-rolled-back")
    assert_failed_with(result, "EndpointUpdateRolledBack", Live().endpoint_config)
    assert_one_failure_notice(result, Live().endpoint_config)
    # The deploy attempt itself is the one update; nothing is deleted, nothing tagged as the new live model.
    assert len(result.calls_to("sagemaker:updateEndpoint")) == 1
    assert_live_endpoint_untouched(result, allowed=("sagemaker:updateEndpoint",))
    assert not result.calls_to("sagemaker:addTags")


# ---- retries, overrides, defaults -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "live"),
    [
        # optimized integration: SageMaker.AmazonSageMakerException
        pytest.param("sagemaker:createModel", None, id="createModel"),
        # aws-sdk integration: SageMaker.SageMakerException
        pytest.param("sagemaker:createEndpointConfig", None, id="createEndpointConfig"),
        # the live-endpoint lookup: a throttle is NOT "not found" and must not fail the run
        pytest.param(scenarios.LOOKUP_STATE, Live(), id="live-lookup"),
    ],
)
def test_throttling_is_retried_then_succeeds(pipeline_definition, key, live):
    scenario = scenarios.throttled_then_ok(key, live=live)
    result = run_execution(pipeline_definition, scenario)
    result.assert_status("SUCCEEDED")
    calls = [c for c in result.calls if key in (c.api, c.state)]
    assert [c.attempt for c in calls[:2]] == [0, 1], result.explain()
    assert calls[0].state == calls[1].state
    retry_sleeps = [s for s in result.sleeps if s.kind == "retry" and s.state == calls[0].state]
    assert len(retry_sleeps) == 1 and retry_sleeps[0].seconds > 0, result.explain()
    # A throttled lookup of an existing endpoint must still end in an update, never a create.
    if live:
        assert result.calls_to("sagemaker:updateEndpoint") and not result.calls_to("sagemaker:createEndpoint")


def test_overrides_reach_the_jobs(run_path):
    result = run_path("overrides")
    result.assert_status("SUCCEEDED")
    glue = only_call(result, "glue:startJobRun")
    assert glue.parameters["Arguments"]["--input_uri"] == OVERRIDE_INPUT["raw_s3_uri"]
    hyperparameters = only_call(result, "sagemaker:createTrainingJob").parameters["HyperParameters"]
    for key, value in OVERRIDE_INPUT["hyperparameters"].items():
        assert hyperparameters[key] == value, hyperparameters
    assert hyperparameters["sagemaker_program"] == "train.py"
    for call in result.calls_to("sagemaker:describeEndpoint") + result.calls_to("sagemaker:createEndpoint"):
        assert call.parameters["EndpointName"] == OVERRIDE_INPUT["endpoint_name"], call.describe()
    assert (
        only_call(result, "sagemakerruntime:invokeEndpoint").parameters["EndpointName"]
        == OVERRIDE_INPUT["endpoint_name"]
    )


def test_min_accuracy_override_reaches_the_gate(run_path):
    result = run_path("override-threshold")
    assert_failed_with(result, "ModelRejected", "0.92", "0.95")
    assert_one_failure_notice(result, "0.95", subject="REJECTED")
    assert not [c for c in result.calls if c.api in HOSTING_WRITES]


def test_empty_input_runs_the_default_pipeline(run_path, pipeline_config):
    result = run_path("empty-input")
    result.assert_status("SUCCEEDED")
    arguments = only_call(result, "glue:startJobRun").parameters["Arguments"]
    assert arguments["--input_uri"] == scenarios.RAW_S3_URI, "scenarios.RAW_S3_URI must be the default raw URI"
    assert arguments["--input_uri"].endswith(f"/{pipeline_config.raw_prefix}")
    assert arguments["--run_id"] == "run-empty-input"
    hyperparameters = only_call(result, "sagemaker:createTrainingJob").parameters["HyperParameters"]
    for key, value in pipeline_config.training.hyperparameters.items():
        assert hyperparameters[key] == value
    assert hyperparameters["sagemaker_program"] == "train.py"
    assert hyperparameters["sagemaker_submit_directory"] == "/opt/ml/input/data/code/sourcedir.tar.gz"
    assert only_call(result, "sagemaker:createEndpoint").parameters["EndpointName"] == pipeline_config.endpoint.name


# ---- the other exits of the wait loop and of the live-endpoint lookup -------------------------------


def test_update_that_ends_failed_fails_the_run_without_deleting(run_path):
    result = run_path("update-failed")
    assert_failed_with(result, "EndpointFailed", scenarios.FAILURE_REASON)
    assert_one_failure_notice(result, scenarios.FAILURE_REASON)
    assert len(result.calls_to("sagemaker:updateEndpoint")) == 1
    assert_live_endpoint_untouched(result, allowed=("sagemaker:updateEndpoint",))


def test_endpoint_never_in_service_gives_up_after_the_configured_attempts(run_path, pipeline_config):
    result = run_path("endpoint-never-ready")
    attempts = pipeline_config.endpoint.max_wait_attempts
    assert_failed_with(result, "EndpointTimeout", str(attempts))
    polls = [c for c in result.calls_to("sagemaker:describeEndpoint") if c.state != "Look up live endpoint"]
    assert len(polls) == attempts, result.explain()
    waits = [s.seconds for s in result.sleeps if s.kind == "wait" and s.state == "Wait for endpoint"]
    assert waits == [pipeline_config.endpoint.wait_seconds] * attempts
    assert_one_failure_notice(result, "Creating")
    assert not result.calls_to("sagemakerruntime:invokeEndpoint")


def test_unexpected_endpoint_status_fails_the_run(run_path):
    result = run_path("endpoint-unexpected-status")
    assert_failed_with(result, "EndpointUnexpectedStatus", "OutOfService")
    assert_one_failure_notice(result, "OutOfService")
    assert_live_endpoint_untouched(result)


def test_smoke_test_without_predictions_fails_and_records_no_accuracy(run_path):
    result = run_path("smoke-test-invalid")
    assert_failed_with(result, "SmokeTestFailed", "unexpected")
    assert not result.calls_to("sagemaker:addTags"), "a model that failed its smoke test must not be recorded as live"
    assert_one_failure_notice(result, "without predictions")


def test_busy_live_endpoint_is_left_alone(run_path):
    result = run_path("live-endpoint-busy")
    assert_failed_with(result, "LiveEndpointNotReady", "Updating")
    assert not [c for c in result.calls if c.api in HOSTING_WRITES], result.explain()
    assert_one_failure_notice(result, "Updating")


def test_denied_live_lookup_is_a_failure_not_a_first_run(run_path):
    result = run_path("live-lookup-denied")
    result.assert_status("FAILED")
    assert not result.error.startswith("States."), result.explain()
    assert "not authorized" in result.cause and "Look up live endpoint" in result.cause, result.explain()
    assert not [c for c in result.calls if c.api in HOSTING_WRITES], "a denied lookup must never create an endpoint"
    assert_one_failure_notice(result, "not authorized")


def test_live_endpoint_without_recorded_accuracy_is_gated_by_threshold_only(run_path):
    result = run_path("live-without-accuracy")
    result.assert_status("SUCCEEDED")
    assert only_call(result, "sagemaker:updateEndpoint")
    tags = {t["Key"]: t["Value"] for t in only_call(result, "sagemaker:addTags").parameters["Tags"]}
    assert float(tags[ACCURACY_TAG]) == pytest.approx(0.91)


def test_training_without_validation_accuracy_fails_with_a_notice(run_path):
    result = run_path("no-accuracy-metric")
    result.assert_status("FAILED")
    assert not [c for c in result.calls if c.api in HOSTING_WRITES]
    assert_one_failure_notice(result, "validation:accuracy")


def test_a_failed_training_job_reports_its_reason_and_its_log(run_path):
    result = run_path("training-fails")
    job = only_call(result, "sagemaker:createTrainingJob").parameters["TrainingJobName"]
    # The execution's cause and the notification carry the job's FailureReason and where its log stream is.
    needles = (
        job,
        "training refused: invalid value for hyperparameter C",
        "/aws/sagemaker/TrainingJobs",
        f"{job}/algo-*",
        f"logStreamNameFilter$3D{job}",
    )
    assert_failed_with(result, "TrainModelFailed", *needles)
    assert_one_failure_notice(result, *needles)
    assert only_call(result, "sagemaker:describeTrainingJob").parameters == {"TrainingJobName": job}
    assert not [c for c in result.calls if c.api in HOSTING_WRITES]


def test_a_stopped_training_job_is_reported_without_a_reason(run_path):
    result = run_path("training-stopped")
    assert_failed_with(result, "TrainModelFailed", "is Stopped", "no FailureReason", "/aws/sagemaker/TrainingJobs")
    assert "Training job ended without a reason" in result.states_entered, result.explain()


def test_a_failed_training_job_that_cannot_be_described_still_fails_with_the_original_cause(run_path):
    result = run_path("training-fails-undescribed")
    # The .sync task's own cause (the DescribeTrainingJob JSON) still holds the reason.
    assert_failed_with(result, "TrainModelFailed", "Train model failed: States.TaskFailed", "training refused")
    assert_one_failure_notice(result, "Train model failed")


def test_a_training_job_that_cannot_start_takes_the_generic_failure_path(run_path):
    result = run_path("training-not-started")
    assert_failed_with(result, "TrainModelFailed", "Train model failed", "ResourceLimitExceeded", "0 Instances")
    result.assert_not_entered(["Training job failed", "Training job ended without a reason"])


def test_raw_uri_outside_the_raw_prefix_is_refused_before_any_job(run_path):
    result = run_path("raw-uri-outside-raw-prefix")
    assert_failed_with(result, "InvalidInput", "someone-elses-bucket")
    assert result.call_sequence() == ["sns:publish"], result.explain()


def test_invalid_input_is_refused_before_any_job(run_path):
    result = run_path("invalid-input")
    assert_failed_with(result, "InvalidInput", "high")
    assert result.call_sequence() == ["sns:publish"], result.explain()
    assert_one_failure_notice(result, "min_accuracy", "high")


def test_smoke_test_failing_after_an_update_restores_the_previous_model(run_path):
    result = run_path("smoke-test-fails-after-update")
    assert_failed_with(result, "SmokeTestFailed")
    configs = [c.parameters["EndpointConfigName"] for c in result.calls_to("sagemaker:updateEndpoint")]
    new_config = only_call(result, "sagemaker:createEndpointConfig").parameters["EndpointConfigName"]
    assert configs == [new_config, Live().endpoint_config], result.explain()
    result.assert_states_in_order(["Update live endpoint", "Smoke test endpoint", "Restore previous model"])
    assert not result.calls_to("sagemaker:addTags")
    assert_one_failure_notice(result, Live().endpoint_config)
    assert_live_endpoint_untouched(result, allowed=("sagemaker:updateEndpoint",))


def test_a_failed_restore_is_reported_too(run_path):
    result = run_path("restore-fails")
    result.assert_status("FAILED")
    assert len(result.calls_to("sagemaker:updateEndpoint")) >= 2
    note = assert_one_failure_notice(result, Live().endpoint_config)
    assert "also failed" in str(note["message"]), note


# --- the transformer recipe, chosen per run -------------------------------------------------------------------
def test_the_transformer_recipe_fine_tunes_on_spot_with_checkpoints_and_serves_its_image(run_path, pipeline_config):
    result = run_path("transformer")
    result.assert_status("SUCCEEDED")
    result.assert_states_in_order(["Which recipe?", "Locate pretrained weights", "Fine-tune transformer",
                                   "Serve with the transformer image", "Model-quality gate", "Create model"])
    job = only_call(result, "sagemaker:createTrainingJob").parameters
    tf = pipeline_config.transformer
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": tf.max_runtime_seconds,
                                        "MaxWaitTimeInSeconds": tf.max_wait_seconds}
    checkpoint = job["CheckpointConfig"]
    assert checkpoint["LocalPath"] == "/opt/ml/checkpoints"
    assert re.fullmatch(r"s3://[^/]+/models/[^/]+/checkpoints/", checkpoint["S3Uri"]), checkpoint
    assert job["ResourceConfig"]["InstanceType"] == tf.instance_type and job["EnableNetworkIsolation"] is True
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]}
    assert channels["pretrained"].endswith(f"/pretrained/{tf.model_name}/"), channels
    assert set(channels) == {"train", "validation", "pretrained", "code"}
    hyperparameters = job["HyperParameters"]
    assert hyperparameters["epochs"] == "3" and hyperparameters["model_name"] == tf.model_name
    assert hyperparameters["sagemaker_torch_distributed_enabled"] == "true"
    assert hyperparameters["sagemaker_program"] == "train.py"
    assert "huggingface-pytorch-training:" in job["AlgorithmSpecification"]["TrainingImage"]
    image = only_call(result, "sagemaker:createModel").parameters["PrimaryContainer"]["Image"]
    assert "huggingface-pytorch-inference:" in image and "-cpu-" in image, image


def test_the_default_recipe_still_trains_the_linear_model(run_path):
    result = run_path("first-run")
    result.assert_states_in_order(["Which recipe?", "Train model", "Serve with the scikit-learn image"])
    job = only_call(result, "sagemaker:createTrainingJob").parameters
    assert "CheckpointConfig" not in job and "sagemaker-scikit-learn:" in job["AlgorithmSpecification"]["TrainingImage"]
    assert "sagemaker-scikit-learn:" in only_call(result, "sagemaker:createModel").parameters["PrimaryContainer"]["Image"]


def test_the_transformer_meets_the_same_model_gate(run_path):
    result = run_path("transformer-below-threshold")
    assert_failed_with(result, "ModelRejected")
    assert only_call(result, "sagemaker:createTrainingJob").parameters["CheckpointConfig"]
    assert not result.calls_to("sagemaker:createModel")
    assert_live_endpoint_untouched(result)


def test_an_unknown_recipe_is_refused_before_any_job(run_path):
    result = run_path("unknown-recipe")
    assert_failed_with(result, "InvalidInput", "xgboost")
    assert result.call_sequence() == ["sns:publish"], result.explain()


def test_a_failed_fine_tuning_job_reports_its_reason_like_the_linear_job(run_path):
    result = run_path("transformer-fails")
    job = only_call(result, "sagemaker:createTrainingJob").parameters["TrainingJobName"]
    result.assert_states_in_order(["Fine-tune transformer", "Fine-tune transformer failed",
                                   "Describe failed training job", "Training job failed"])
    assert_failed_with(result, "TrainModelFailed", f"Fine-tune transformer failed: training job {job} is Failed",
                       "no pretrained weights", "/aws/sagemaker/TrainingJobs")
    assert_one_failure_notice(result, "no pretrained weights")
    assert not [c for c in result.calls if c.api in HOSTING_WRITES]
