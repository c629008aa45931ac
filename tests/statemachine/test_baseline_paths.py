"""The managed baseline beside training, executed on each of its paths: completed, failed, stopped, timed out,
not started, and disabled by configuration. On every one of them the run itself ends as it would without the
baseline, and the evaluation step is told what the baseline gave (or why it gave nothing)."""

from __future__ import annotations

import copy
import math

import pytest

from tests.statemachine import scenarios
from tests.statemachine.conftest import PIPELINE_STACK_ID, _synthesize, state_machines_of
from tests.statemachine.harness import Interpreter
from tests.statemachine.test_paths import EVALUATION_SUBJECT, only_call, outcome_notices

BASELINE_STATES = ["Prepare baseline input", "Start Comprehend job", "Wait for Comprehend job",
                   "Describe Comprehend job", "Comprehend job ended?"]


@pytest.fixture(scope="module")
def run_path(path_results):
    return path_results.__getitem__


def evaluated_baseline(result) -> dict:
    """What the state machine handed the evaluation step about the baseline."""
    (evaluate,) = [c for c in result.calls if c.state == "Evaluate run"]
    return evaluate.parameters["Payload"]["baseline"]


def evaluation_notice(result) -> dict:
    (notice,) = [n for n in result.notifications if EVALUATION_SUBJECT in (n["subject"] or "")]
    return notice


def test_the_baseline_runs_beside_training_and_its_result_reaches_the_evaluation(run_path, pipeline_config):
    result = run_path("first-run")
    result.assert_status("SUCCEEDED")
    result.assert_states_in_order(["Train and run baseline", *BASELINE_STATES, "Baseline completed",
                                   "Merge branch results", "Evaluate run", "Notify evaluation", "Deployed"])
    prepare = [c for c in result.calls if c.state == "Prepare baseline input"]
    assert prepare[0].parameters["Payload"] == {"action": "prepare", "run_id": "run-first-run"}
    start = only_call(result, "comprehend:startSentimentDetectionJob").parameters
    assert start["InputDataConfig"] == {
        "S3Uri": "s3://dsonaws-data-artifacts-bucket/baseline/run-first-run/input/documents.txt",
        "InputFormat": "ONE_DOC_PER_LINE"}
    assert start["OutputDataConfig"]["S3Uri"] == "s3://dsonaws-data-artifacts-bucket/baseline/run-first-run/output/"
    # The data key encrypts the job's volume and its output; Comprehend acts through its own data-access role.
    assert start["OutputDataConfig"]["KmsKeyId"] == start["VolumeKmsKeyId"] and "datakey" in start["VolumeKmsKeyId"]
    assert "comprehenddataaccessrole" in start["DataAccessRoleArn"].lower()
    assert start["LanguageCode"] == pipeline_config.baseline.language_code
    assert start["ClientRequestToken"] == only_call(result, "sagemaker:createTrainingJob").parameters["TrainingJobName"]
    # No .sync: polled, each poll after a Wait of the configured length, until COMPLETED.
    polls = result.calls_to("comprehend:describeSentimentDetectionJob")
    assert len(polls) == 2
    waits = [s.seconds for s in result.sleeps if s.state == "Wait for Comprehend job"]
    assert waits == [pipeline_config.baseline.poll_seconds] * 2
    baseline = evaluated_baseline(result)
    assert baseline["status"] == "COMPLETED"
    assert baseline["job"]["OutputDataConfig"]["S3Uri"].endswith("/output/output.tar.gz")
    assert baseline["prepared"]["documents"] == 500
    evaluate = result.calls_to("lambda:invoke")[-1].parameters["Payload"]
    assert evaluate["action"] == "evaluate" and evaluate["glue_job_run_id"].startswith("jr_")
    assert evaluate["training_job"]["BillableTimeInSeconds"] == 162  # spot savings as SageMaker reports them
    notice = evaluation_notice(result)
    assert "models/run-first-run/evaluation.json" in notice["message"]
    assert "Amazon Comprehend: COMPLETED" in notice["message"]


@pytest.mark.parametrize(
    "name, status, reason",
    [
        ("baseline-job-fails", "FAILED", f"Comprehend job ended FAILED: {scenarios.COMPREHEND_FAILURE}"),
        ("baseline-job-stopped", "STOPPED", "Comprehend job ended STOPPED without a message"),
        ("baseline-not-started", "UNAVAILABLE", "Start Comprehend job failed: Comprehend.ComprehendException"),
    ],
)
def test_a_failed_baseline_is_reported_unavailable_and_the_run_deploys_anyway(run_path, name, status, reason):
    result = run_path(name)
    result.assert_status("SUCCEEDED")
    baseline = evaluated_baseline(result)
    assert baseline["status"] == status
    assert reason in baseline["reason"], baseline
    (outcome,) = outcome_notices(result)
    assert "deployed" in outcome["subject"]
    assert status in evaluation_notice(result)["message"]


def test_a_refused_start_is_retried_before_the_baseline_gives_up(run_path):
    starts = run_path("baseline-not-started").calls_to("comprehend:startSentimentDetectionJob")
    assert [c.attempt for c in starts] == [0, 1, 2, 3]  # the generic Comprehend error: 3 retries
    assert not run_path("baseline-not-started").calls_to("comprehend:describeSentimentDetectionJob")


def test_a_baseline_past_its_time_limit_is_stopped_and_reported_timed_out(run_path, pipeline_config):
    result = run_path("baseline-times-out")
    result.assert_status("SUCCEEDED")
    b = pipeline_config.baseline
    polls = result.calls_to("comprehend:describeSentimentDetectionJob")
    assert len(polls) == math.ceil(b.max_wait_seconds / b.poll_seconds)
    stop = only_call(result, "comprehend:stopSentimentDetectionJob")
    assert stop.parameters == {"JobId": polls[0].parameters["JobId"]}
    baseline = evaluated_baseline(result)
    assert baseline["status"] == "TIMED_OUT" and str(b.max_wait_seconds) in baseline["reason"]


def test_a_training_failure_still_fails_the_run_with_its_own_notice(run_path):
    result = run_path("training-fails")
    assert result.status == "FAILED" and result.error == "TrainModelFailed"
    result.assert_states_in_order(["Train model", "Training job failed", "Training failed",
                                   "Relay training failure", "Notify failure", "Run failed"])
    assert not [c for c in result.calls if c.state == "Evaluate run"], "no evaluation of a run whose training failed"


@pytest.fixture(scope="module")
def disabled_definition(cdk_context_for_statemachine, tmp_path_factory) -> dict:
    """The pipeline definition synthesized with ``baseline.enabled = false``."""
    context = copy.deepcopy(cdk_context_for_statemachine)
    context["ds-on-aws"]["baseline"]["enabled"] = False
    templates = _synthesize(context, tmp_path_factory.mktemp("statemachine-no-baseline-cdk.out"))
    (machine,) = [m for m in state_machines_of(templates) if m.stack_id == PIPELINE_STACK_ID]
    return machine.definition


def test_a_disabled_baseline_calls_no_comprehend_and_the_report_says_so(disabled_definition):
    with Interpreter(disabled_definition) as interpreter:
        result = interpreter.run(scenarios.first_run(), execution_name="run-no-baseline")
    result.assert_status("SUCCEEDED")
    result.assert_states_in_order(["Train and run baseline", "Baseline disabled", "Evaluate run", "Deployed"])
    assert not [c for c in result.calls if c.service == "comprehend"]
    assert evaluated_baseline(result)["status"] == "disabled"
    assert "baseline.enabled is false" in evaluation_notice(result)["message"]
