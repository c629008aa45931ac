"""The scoring definition with moderation on (``moderation.toxicity`` / ``images`` in cdk.json): Batch Transform and
the moderation function side by side, the publish job told the moderation's result; a moderation failure never
fails the run, a scoring failure fails it exactly as without moderation. Executed in moto's interpreter like
``test_scoring_paths.py``, with the Lambda answer in the function's documented shape
(stacks/constructs/moderation_runtime/index.py)."""

from __future__ import annotations

import json

import pytest

from tests.statemachine import scoring_scenarios as paths
from tests.statemachine.conftest import SCORING_STACK_ID, state_machines_of
from tests.statemachine.harness import Fail, Interpreter
from tests.statemachine.service_replies import _lambda_answer
from tests.statemachine.test_asl_validator import _validate
from tests.statemachine.test_coverage import _injected_failure, all_states, injection_problems, task_names

pytestmark = pytest.mark.slow  # one more synthesis

MODERATED = {"status": "COMPLETED", "reason": "", "enabled": {"toxicity": True, "images": True},
             "toxicity_threshold": 0.5, "counts": {"records": 3, "flagged": 1, "errors": 0, "text": 3, "images": 1},
             "output": "s3://curated/scoring/run/moderation/"}


@pytest.fixture(scope="module")
def definition(moderation_templates) -> dict:
    (machine,) = [m for m in state_machines_of(moderation_templates) if m.stack_id == SCORING_STACK_ID]
    return machine.definition


def moderated(call, calls):
    assert call.parameters["Payload"] == {"run_id": call.parameters["Payload"]["run_id"]}
    return _lambda_answer(MODERATED)


def scenario(name: str, **overrides):
    responses = {"lambda:invoke": moderated, **{k.replace("__", ":"): v for k, v in overrides.items()}}
    return paths.path(name, **{k.replace(":", "__"): v for k, v in responses.items()})


def with_moderation(make):
    """One of the default scoring paths (scoring_scenarios.PATHS), with the moderation function answering."""

    def build(feedback: str):
        run = make(feedback)
        run.responses.setdefault("lambda:invoke", moderated)
        return run

    return build


SCENARIOS = {
    **{f"default:{name}": with_moderation(make) for name, make in paths.PATHS.items()},
    "moderated": lambda feedback: scenario("moderated"),
    "moderation-failed": lambda feedback: scenario("moderation-failed", lambda__invoke=Fail(
        "Lambda.Unknown", "The function timed out after 900 s")),
    "moderation-throttled": lambda feedback: scenario("moderation-throttled", lambda__invoke=[
        Fail("Lambda.TooManyRequestsException", "Rate exceeded"), moderated]),
    "transform-failed": lambda feedback: scenario("transform-failed", sagemaker__createTransformJob=paths.transform_job(
        "Failed", paths.TRANSFORM_FAILURE)),
}


@pytest.fixture(scope="module")
def feedback_uri(definition) -> str:
    return definition["States"]["Load scoring defaults"]["Parameters"]["defaults"]["input_s3_uri"]


@pytest.fixture(scope="module")
def results(definition, feedback_uri) -> dict:
    with Interpreter(definition) as interpreter:
        return {name: interpreter.run(make(feedback_uri), execution_name=f"score-{name.replace(':', '-')}")
                for name, make in SCENARIOS.items()}


def publish_moderation(result) -> dict:
    publish = [c for c in result.calls_to("glue:startJobRun") if c.parameters["JobName"].endswith("-publish-predictions")]
    assert len(publish) == 1, result.explain()
    return json.loads(publish[0].parameters["Arguments"]["--moderation"])


def test_the_moderated_definition_passes_asl_validator(definition, tmp_path):
    done = _validate(definition, tmp_path / "scoring-moderation.asl.json")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"


def test_moderation_runs_beside_batch_transform_and_reaches_the_publish_job(results):
    result = results["moderated"]
    assert not (result.unmocked or result.scenario_errors or result.invalid_requests), result.explain()
    result.assert_status("SUCCEEDED")
    (invoke,) = result.calls_to("lambda:invoke")
    assert invoke.parameters["Payload"] == {"run_id": "score-moderated"}
    assert invoke.parameters["FunctionName"]
    assert result.calls_to("sagemaker:createTransformJob")
    assert publish_moderation(result) == MODERATED
    sequence = result.call_sequence()
    assert sequence.index("lambda:invoke") > sequence.index("glue:startJobRun")  # after cleaning
    assert sequence[-3:] == ["glue:startJobRun", "s3:getObject", "sns:publish"]  # publish after both


def test_a_moderation_failure_is_recorded_and_the_run_still_publishes(results):
    result = results["moderation-failed"]
    result.assert_status("SUCCEEDED")
    moderation = publish_moderation(result)
    assert moderation["status"] == "UNAVAILABLE"
    assert moderation["reason"] == "Moderate feedback failed: Lambda.Unknown: The function timed out after 900 s"
    assert moderation["enabled"] == {"toxicity": True, "images": True} and moderation["toxicity_threshold"] == 0.5
    assert not [n for n in result.notifications if "FAILED" in (n["subject"] or "")]


def test_a_throttled_moderation_call_is_retried(results):
    result = results["moderation-throttled"]
    result.assert_status("SUCCEEDED")
    assert [c.attempt for c in result.calls_to("lambda:invoke")] == [0, 1]
    assert publish_moderation(result)["status"] == "COMPLETED"


def test_a_scoring_failure_fails_the_run_as_without_moderation(results):
    result = results["transform-failed"]
    result.assert_status("FAILED")
    assert result.error == "ScoreWithBatchTransformFailed" and paths.TRANSFORM_FAILURE in result.cause
    notices = [n for n in result.notifications if "FAILED" in (n["subject"] or "")]
    assert len(notices) == 1 and "Score with Batch Transform failed" in notices[0]["message"]
    assert len(result.calls_to("glue:startJobRun")) == 1  # the publish job never runs


def test_the_default_paths_end_as_without_moderation(results):
    for name in paths.PATHS:
        result = results[f"default:{name}"]
        assert not (result.unmocked or result.scenario_errors or result.invalid_requests), result.explain()
        expected = "SUCCEEDED" if name in ("live-model", "named-model", "throttled") else "FAILED"
        assert result.status == expected, result.explain()


def test_every_state_is_entered_and_every_task_failure_is_safe(definition, results, feedback_uri):
    runs, problems = list(results.values()), []
    with Interpreter(definition) as interpreter:
        for task in task_names(definition):
            reached = [name for name, r in results.items() if task in r.states_entered]
            base = next((n for n in reached if results[n].status == "SUCCEEDED"), reached[0] if reached else None)
            assert base is not None, f"no path reaches {task}"
            run = SCENARIOS[base](feedback_uri)
            run.name = f"{base}+fail@{task}"
            run.responses[task] = _injected_failure
            result = interpreter.run(run)
            runs.append(result)
            if task == "Moderate feedback":
                if result.status != "SUCCEEDED" or publish_moderation(result)["status"] != "UNAVAILABLE":
                    problems.append(f"{task}: a moderation failure changed the run\n{result.explain()}")
            else:
                problems.extend(injection_problems(task, result, definition, None))
    assert not problems, "\n\n".join(problems)
    entered = set().union(*(set(r.states_entered) for r in runs))
    assert set(all_states(definition)) - entered == set()

