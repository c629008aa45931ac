"""The harness itself: it must report what happened faithfully, or the path tests prove nothing.

These use tiny inline definitions that exercise one harness feature each (they are not copies of
the pipeline; the pipeline's own definition is only ever taken from the synthesized template).
"""

from __future__ import annotations

import pytest

from tests.statemachine.harness import Fail, Ok, Scenario, run_execution
from tests.statemachine.service_replies import endpoint, endpoint_not_found, glue_job_run, throttled, training_job

TOPIC = "arn:aws:sns:us-east-1:123456789012:topic"


def _task(resource: str, parameters: dict, **extra) -> dict:
    return {"Type": "Task", "Resource": f"arn:aws:states:::{resource}", "Parameters": parameters, **extra}


def _machine(states: dict, start: str) -> dict:
    return {"StartAt": start, "States": states}


def test_sync_integrations_moto_cannot_run_are_answered_by_the_scenario():
    definition = _machine(
        {
            "Clean": _task(
                "glue:startJobRun.sync",
                {"JobName": "clean", "Arguments": {"--run_id.$": "$$.Execution.Name"}},
                ResultPath="$.glue",
                Next="Train",
            ),
            "Train": _task(
                "sagemaker:createTrainingJob.sync",
                {
                    "TrainingJobName.$": "$$.Execution.Name",
                    "RoleArn": "arn:aws:iam::123456789012:role/training",
                    "OutputDataConfig": {"S3OutputPath": "s3://artifacts/models/"},
                },
                ResultSelector={"accuracy.$": "$.FinalMetricDataList[?(@.MetricName == 'validation:accuracy')].Value"},
                ResultPath="$.training",
                End=True,
            ),
        },
        "Clean",
    )
    scenario = Scenario(
        "sync",
        responses={"glue:startJobRun": glue_job_run(), "sagemaker:createTrainingJob": training_job()},
    )
    result = run_execution(definition, scenario, execution_name="run-42")
    result.assert_status("SUCCEEDED")
    assert result.states_entered == ["Clean", "Train"]
    assert result.output["glue"]["JobRunState"] == "SUCCEEDED"
    assert result.output["training"] == {"accuracy": [0.91]}
    assert [(c.api, c.pattern, c.integration) for c in result.calls] == [
        ("glue:startJobRun", "sync", "optimized"),
        ("sagemaker:createTrainingJob", "sync", "optimized"),
    ]
    assert result.calls[0].parameters == {"JobName": "clean", "Arguments": {"--run_id": "run-42"}}


def test_an_unanswered_call_fails_the_run_and_is_reported():
    definition = _machine(
        {"Lookup": _task("aws-sdk:sagemaker:describeEndpoint", {"EndpointName": "e"}, End=True)}, "Lookup"
    )
    result = run_execution(definition, Scenario("unanswered"))
    assert result.status == "FAILED"
    assert result.error == "Harness.UnmockedCall"
    assert [c.api for c in result.unmocked] == ["sagemaker:describeEndpoint"]
    with pytest.raises(AssertionError, match="UNMOCKED CALL .*describeEndpoint"):
        result.assert_status("FAILED")


def test_state_name_answers_win_over_api_answers_and_last_answer_repeats():
    definition = _machine(
        {
            "Lookup": _task("aws-sdk:sagemaker:describeEndpoint", {"EndpointName": "e"}, ResultPath="$.a", Next="Poll"),
            "Poll": _task(
                "aws-sdk:sagemaker:describeEndpoint", {"EndpointName": "e"}, ResultPath="$.b", Next="Poll again"
            ),
            "Poll again": _task(
                "aws-sdk:sagemaker:describeEndpoint", {"EndpointName": "e"}, ResultPath="$.c", End=True
            ),
        },
        "Lookup",
    )
    scenario = Scenario(
        "precedence",
        responses={
            "Lookup": Ok({"who": "state"}),
            "sagemaker:describeEndpoint": [Ok({"who": "api-1"}), Ok({"who": "api-2"})],
        },
    )
    result = run_execution(definition, scenario)
    result.assert_status("SUCCEEDED")
    assert result.output == {"a": {"who": "state"}, "b": {"who": "api-1"}, "c": {"who": "api-2"}}
    scenario = Scenario("repeat", responses={"sagemaker:describeEndpoint": Ok({"who": "same"})})
    assert run_execution(definition, scenario).output["c"] == {"who": "same"}


def test_retries_are_counted_and_their_intervals_recorded_without_sleeping():
    definition = _machine(
        {
            "Lookup": _task(
                "aws-sdk:sagemaker:describeEndpoint",
                {"EndpointName": "e"},
                Retry=[
                    {
                        "ErrorEquals": ["SageMaker.SageMakerException"],
                        "IntervalSeconds": 5,
                        "MaxAttempts": 3,
                        "BackoffRate": 2,
                    }
                ],
                Next="Pause",
            ),
            "Pause": {"Type": "Wait", "Seconds": 600, "End": True},
        },
        "Lookup",
    )
    scenario = Scenario(
        "retry",
        responses={"sagemaker:describeEndpoint": [throttled(), throttled(), Ok({"EndpointStatus": "InService"})]},
    )
    result = run_execution(definition, scenario, timeout_seconds=10)
    result.assert_status("SUCCEEDED")
    assert [c.attempt for c in result.calls] == [0, 1, 2]
    assert [(s.kind, s.state, s.seconds) for s in result.sleeps] == [
        ("retry", "Lookup", 5.0),
        ("retry", "Lookup", 10.0),
        ("wait", "Pause", 600.0),
    ]


def test_aws_sdk_errors_are_named_as_step_functions_names_them():
    definition = _machine(
        {
            "Lookup": _task("aws-sdk:sagemaker:describeEndpoint", {"EndpointName": "ds-on-aws-Live"}, End=True),
        },
        "Lookup",
    )
    result = run_execution(
        definition, Scenario("not found", responses={"sagemaker:describeEndpoint": endpoint_not_found()})
    )
    assert result.status == "FAILED"
    assert result.error == "SageMaker.SageMakerException"
    assert result.cause.startswith(
        'Could not find endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/ds-on-aws-live". (Service: SageMaker, Status Code: 400'
    )
    optimized = _machine({"Model": _task("sagemaker:createModel", {"ModelName": "m"}, End=True)}, "Model")
    result = run_execution(optimized, Scenario("throttled", responses={"sagemaker:createModel": throttled()}))
    assert result.error == "SageMaker.AmazonSageMakerException"
    assert "Error Code: ThrottlingException" in result.cause


def test_a_choice_on_a_missing_field_fails_as_on_aws_and_names_state_and_path():
    # moto alone would take the Default branch; AWS fails the execution with States.Runtime.
    definition = _machine(
        {
            "Gate": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.training.accuracy", "NumericGreaterThanEquals": 0.88, "Next": "Deploy"}],
                "Default": "Reject",
            },
            "Deploy": {"Type": "Succeed"},
            "Reject": {"Type": "Fail", "Error": "ModelRejected"},
        },
        "Gate",
    )
    result = run_execution(definition, Scenario("missing", input={"training": {"acc": 0.9}}))
    assert result.status == "FAILED"
    assert result.error == "States.Runtime"
    assert "'Gate'" in result.cause and "$.training.accuracy" in result.cause
    with pytest.raises(AssertionError) as raised:
        result.assert_status("SUCCEEDED")
    assert "in state 'Gate'" in str(raised.value) and "$.training.accuracy" in str(raised.value)
    # IsPresent is the one test allowed on a missing field.
    definition["States"]["Gate"]["Choices"] = [{"Variable": "$.training.accuracy", "IsPresent": True, "Next": "Deploy"}]
    assert run_execution(definition, Scenario("is present", input={"training": {}})).error == "ModelRejected"


def test_a_parameter_path_that_does_not_resolve_is_named_in_the_failure():
    definition = _machine(
        {"Notify": _task("sns:publish", {"TopicArn": TOPIC, "Message.$": "$.error.Cause"}, End=True)}, "Notify"
    )
    result = run_execution(definition, Scenario("bad path", responses={"sns:publish": Fail("X", "never called")}))
    assert result.status == "FAILED" and result.error == "States.Runtime"
    assert "$.error.Cause" in result.cause and "'Notify'" in result.cause
    assert result.calls == []


def test_a_scenario_that_cannot_answer_is_reported_as_such():
    definition = _machine(
        {"Describe": _task("aws-sdk:sagemaker:describeEndpoint", {"EndpointName": "e"}, End=True)}, "Describe"
    )
    # NEW_CONFIG needs an earlier CreateEndpointConfig call, which this run never made.
    result = run_execution(definition, Scenario("broken", responses={"sagemaker:describeEndpoint": endpoint()}))
    assert result.error == "Harness.ScenarioError"
    assert result.scenario_errors and "createEndpointConfig" in result.scenario_errors[0]
    with pytest.raises(AssertionError, match="scenario itself failed"):
        result.assert_status("FAILED")


def test_a_request_the_service_would_reject_is_reported():
    definition = _machine(
        {
            "Config": _task(
                "aws-sdk:sagemaker:createEndpointConfig",
                {"EndpointConfigName": "c", "ProductionVariant": [{"VariantName": "AllTraffic"}]},
                End=True,
            )
        },
        "Config",
    )
    result = run_execution(definition, Scenario("typo", responses={"sagemaker:createEndpointConfig": Ok({})}))
    assert result.error == "Harness.InvalidParameters"
    assert "ProductionVariant" in result.invalid_requests[0] and "ProductionVariants" in result.invalid_requests[0]
    with pytest.raises(AssertionError, match="would reject"):
        result.assert_status("FAILED")
