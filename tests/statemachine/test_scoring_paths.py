"""Every path of the synthesized scoring state machine, executed in moto's interpreter (tests/statemachine/harness.py).

Each test runs one scenario of ``scoring_scenarios.py`` against the definition ``cdk synth`` produces and asserts the
status, the states entered, the notices and the service calls with their key parameters. The last two tests are the
whole-definition properties of the training pipeline's ``test_coverage.py``, applied to this definition: every
state is entered by some path, and every Task that fails for good ends FAILED through the failure path, notified.
"""

from __future__ import annotations

import json

import pytest

from tests.statemachine import scoring_scenarios as paths
from tests.statemachine.harness import Interpreter
from tests.statemachine.test_coverage import _injected_failure, all_states, injection_problems, task_names

SCORING_WRITES = ("sagemaker:createTransformJob",)


@pytest.fixture(scope="module")
def feedback_uri(scoring_definition) -> str:
    return scoring_definition["States"]["Load scoring defaults"]["Parameters"]["defaults"]["input_s3_uri"]


@pytest.fixture(scope="module")
def results(scoring_definition, feedback_uri) -> dict:
    with Interpreter(scoring_definition) as interpreter:
        return {name: interpreter.run(make(feedback_uri), execution_name=f"score-{name}")
                for name, make in paths.PATHS.items()}


def clean(result):
    assert not (result.unmocked or result.scenario_errors or result.invalid_requests), result.explain()
    return result


def only_call(result, api: str):
    calls = result.calls_to(api)
    assert len(calls) == 1, f"expected one {api} call, got {len(calls)}\n{result.explain()}"
    return calls[0]


def failure_notice(result) -> str:
    notices = [n for n in result.notifications if "FAILED" in (n["subject"] or "")]
    assert len(notices) == 1, result.explain()
    return notices[0]["message"]


def test_default_run_scores_everything_under_the_prefix_with_the_live_model(results, feedback_uri):
    result = clean(results["live-model"])
    result.assert_status("SUCCEEDED")
    assert result.call_sequence() == [
        "glue:startJobRun", "sagemaker:describeEndpoint", "sagemaker:describeEndpointConfig",
        "sagemaker:createTransformJob", "glue:startJobRun", "s3:getObject", "sns:publish",
    ]
    clean_args = result.calls_to("glue:startJobRun")[0].parameters["Arguments"]
    assert clean_args == {"--input_uri": feedback_uri, "--run_id": "score-live-model", "--mode": "score",
                          "--min_rows": "1",
                          "--context_columns": "source,call_id,turn,speaker,channel,start_time,end_time,image_key"}
    assert only_call(result, "sagemaker:describeEndpoint").parameters == {"EndpointName": "ds-on-aws-sentiment"}
    assert only_call(result, "sagemaker:describeEndpointConfig").parameters == {"EndpointConfigName": paths.LIVE_CONFIG}
    transform = only_call(result, "sagemaker:createTransformJob")
    assert transform.pattern == "sync"
    p = transform.parameters
    assert p["ModelName"] == paths.LIVE_MODEL
    assert p["TransformJobName"].startswith("ds-on-aws-") and len(p["TransformJobName"]) == len("ds-on-aws-") + 32
    assert p["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"].endswith("/scoring/score-live-model/input/")
    assert p["TransformInput"]["SplitType"] == "Line" and p["BatchStrategy"] == "MultiRecord"
    assert p["TransformOutput"]["S3OutputPath"].endswith("/scoring/score-live-model/transform/")
    assert p["TransformOutput"]["KmsKeyId"] and p["TransformOutput"]["KmsKeyId"] == p["TransformResources"]["VolumeKmsKeyId"]
    assert p["DataProcessing"] == {"InputFilter": "$.text", "JoinSource": "Input",
                                   "OutputFilter": "$"}
    assert {"Key": "ds-on-aws:stack", "Value": "DsOnAws-Scoring"} in p["Tags"]
    publish = result.calls_to("glue:startJobRun")[1].parameters
    assert publish["JobName"].endswith("-publish-predictions")
    assert publish["Arguments"] == {"--run_id": "score-live-model", "--model_name": paths.LIVE_MODEL}
    assert only_call(result, "s3:getObject").parameters["Key"] == "reports/score-live-model/scoring_summary.json"
    notice = result.notifications[-1]
    assert notice["subject"] == "ds-on-aws: feedback scored"
    assert json.dumps(paths.SUMMARY) in notice["message"]  # the summary travels in the notice
    assert "tables/predictions/run_id=score-live-model/" in notice["message"] and paths.LIVE_MODEL in notice["message"]


def test_input_overrides_the_feedback_and_the_model(results, feedback_uri):
    result = clean(results["named-model"])
    result.assert_status("SUCCEEDED")
    assert not result.calls_to("sagemaker:describeEndpoint")
    assert only_call(result, "sagemaker:describeModel").parameters == {"ModelName": paths.NAMED_MODEL}
    assert result.calls_to("glue:startJobRun")[0].parameters["Arguments"]["--input_uri"] == f"{feedback_uri}week-48.csv"
    assert only_call(result, "sagemaker:createTransformJob").parameters["ModelName"] == paths.NAMED_MODEL


@pytest.mark.parametrize(
    ("name", "error", "in_message", "last_call"),
    [
        ("cleaning-refused", "CleanFeedbackFailed", "Data quality gate refused run: min_rows", "glue:startJobRun"),
        ("transform-failed", "ScoreWithBatchTransformFailed", paths.TRANSFORM_FAILURE, "sagemaker:createTransformJob"),
        ("no-live-model", "NoLiveModel", "No live endpoint ds-on-aws-sentiment", "sagemaker:describeEndpoint"),
        ("named-model-missing", "ModelNotFound", f"Model {paths.NAMED_MODEL} (model_name of the input) does not",
         "sagemaker:describeModel"),
        ("live-lookup-denied", "LookUpLiveEndpointForScoringFailed", "not authorized", "sagemaker:describeEndpoint"),
        ("named-model-denied", "CheckNamedModelFailed", "not authorized", "sagemaker:describeModel"),
        ("input-outside-prefixes", "InvalidInput", "someone-elses-bucket", None),
        ("foreign-model", "InvalidInput", "someone-elses-model", None),
    ],
)
def test_failures_notify_and_stop_before_anything_is_scored_or_published(results, name, error, in_message, last_call):
    result = clean(results[name])
    result.assert_status("FAILED")
    assert result.error == error
    assert in_message in result.cause and in_message in failure_notice(result)
    apis = [c for c in result.call_sequence(retries=False) if c != "sns:publish"]
    assert (apis[-1] if apis else None) == last_call, result.explain()
    if last_call != "sagemaker:createTransformJob":
        assert not result.calls_to("sagemaker:createTransformJob")
    assert len(result.calls_to("glue:startJobRun")) <= 1  # the publish job never runs after a failure


def test_throttling_is_retried_with_backoff(results):
    result = clean(results["throttled"])
    result.assert_status("SUCCEEDED")
    assert [c.attempt for c in result.calls_to("sagemaker:describeEndpoint")] == [0, 1]
    assert [c.attempt for c in result.calls_to("sagemaker:createTransformJob")] == [0, 1, 2]
    retries = [s for s in result.sleeps if s.kind == "retry"]
    assert {s.state for s in retries} == {"Look up live endpoint for scoring", "Score with Batch Transform"}
    assert all(s.seconds <= 120 for s in retries)


# ---- whole-definition properties -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def injected(scoring_definition, results, feedback_uri) -> dict:
    """For every Task: (the path it was reached on, the run where that Task fails for good)."""
    found = {}
    with Interpreter(scoring_definition) as interpreter:
        for task in task_names(scoring_definition):
            base = next((name for name, r in results.items() if task in r.states_entered), None)
            if base is None:
                found[task] = (None, None)
                continue
            scenario = paths.PATHS[base](feedback_uri)
            scenario.name = f"{base}+fail@{task}"
            scenario.responses[task] = _injected_failure
            found[task] = (base, interpreter.run(scenario))
    return found


def test_every_scoring_state_is_entered_by_some_path(scoring_definition, results, injected):
    runs = list(results.values()) + [r for _, r in injected.values() if r is not None]
    entered = set().union(*(set(r.states_entered) for r in runs))
    assert set(all_states(scoring_definition)) - entered == set()


def test_every_scoring_task_failure_is_caught_and_notified(scoring_definition, injected):
    problems = []
    for task, (_, result) in injected.items():
        problems.extend(injection_problems(task, result, scoring_definition, None))
    assert not problems, "\n\n".join(problems)
