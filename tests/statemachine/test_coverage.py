"""Properties over the whole synthesized definition, not one path: reachability and catch coverage.

* Every state of the definition is entered by at least one path of scenarios.PATHS: no dead state,
  and no state the path tests never execute.
* The managed baseline's Tasks and the evaluation's are the exception, by design: made to fail, the run ends as
  it would have without the failure, and the evaluation says the baseline (or the report) is unavailable and why.
* Every other Task, made to fail with an error no retry covers, ends the execution FAILED through the
  failure path (a Fail state), with a failure notification (unless the failing task IS that
  notification), without touching the live endpoint. This is the catch-gap detector: it is derived
  from the definition, so a Task added later without a Catch fails here with its name.
"""

from __future__ import annotations

import pytest

from stacks.state_machine.baseline import NON_FATAL_TASKS as BASELINE_TASKS
from stacks.state_machine.beside_training import NON_FATAL_TASKS as EVALUATION_TASKS
from tests.statemachine import scenarios
from tests.statemachine.harness import ExecutionResult, Fail, Interpreter, Scenario, ServiceCall, run_execution

LIVE_ENDPOINT_WRITES = {
    "sagemaker:updateEndpoint",
    "sagemaker:updateEndpointWeightsAndCapacities",
    "sagemaker:deleteEndpoint",
    "sagemaker:deleteEndpointConfig",
    "sagemaker:deleteModel",
}


def all_states(definition: dict) -> dict[str, dict]:
    """Every state by name, including those inside Parallel branches and Map iterators."""
    found = {}
    for name, state in definition["States"].items():
        found[name] = state
        for branch in state.get("Branches", []):
            found.update(all_states(branch))
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                found.update(all_states(state[key]))
    return found


#: States no path can enter today, each with the bug that makes it so; the test fails when one becomes
#: reachable (remove it here) or another becomes unreachable.
KNOWN_UNREACHED: dict[str, str] = {}


@pytest.fixture(scope="module")
def injected_results(pipeline_definition, path_results) -> dict[str, tuple[str, ExecutionResult | None]]:
    """For every Task: (the path it was reached on, the run where that Task fails for good)."""
    results = {}
    with Interpreter(pipeline_definition) as interpreter:
        for task in task_names(pipeline_definition):
            base = next((name for name, r in path_results.items() if task in r.states_entered), None)
            if base is None:
                results[task] = (None, None)
                continue
            scenario = scenarios.PATHS[base]()
            scenario.name = f"{base}+fail@{task}"
            scenario.responses[task] = _injected_failure
            results[task] = (base, interpreter.run(scenario))
    return results


def task_names(definition: dict) -> list[str]:
    return [name for name, state in all_states(definition).items() if state["Type"] == "Task"]


def test_every_state_is_entered_by_some_path(pipeline_definition, path_results, injected_results):
    runs = list(path_results.values()) + [r for _, r in injected_results.values() if r is not None]
    entered = set().union(*(set(r.states_entered) for r in runs))
    never = set(all_states(pipeline_definition)) - entered
    assert never == set(KNOWN_UNREACHED), (
        f"states no path enters (dead, or a path is missing in scenarios.PATHS): {sorted(never - set(KNOWN_UNREACHED))}; "
        f"known-unreachable states that are now reached (remove them from KNOWN_UNREACHED): "
        f"{sorted(set(KNOWN_UNREACHED) - never)}\n"
        + "\n".join(f"{name}: {' -> '.join(r.states_entered)}" for name, r in path_results.items())
    )


def live_endpoint_violations(result: ExecutionResult, live) -> list[str]:
    """Calls of a failed run that delete or repoint the live endpoint (``live``: the endpoint before the run).

    Allowed: the deploy attempt (UpdateEndpoint to the config this run created), a roll-back to the
    live config, and, when no endpoint was live, deleting the endpoint this run created.
    """
    created_configs = {
        c.parameters.get("EndpointConfigName") for c in result.calls_to("sagemaker:createEndpointConfig")
    }
    created_endpoints = {c.parameters.get("EndpointName") for c in result.calls_to("sagemaker:createEndpoint")}
    problems = []
    for call in result.calls:
        if call.api == "sagemaker:updateEndpoint":
            allowed = created_configs | ({live.endpoint_config} if live else set())
            if call.parameters.get("EndpointConfigName") not in allowed:
                problems.append(
                    f"{call.describe()} repoints the endpoint to {call.parameters.get('EndpointConfigName')!r}"
                )
        elif call.api == "sagemaker:deleteEndpoint":
            if live or call.parameters.get("EndpointName") not in created_endpoints:
                problems.append(f"{call.describe()} deletes {call.parameters.get('EndpointName')!r}")
        elif call.api in LIVE_ENDPOINT_WRITES - {"sagemaker:updateEndpoint", "sagemaker:deleteEndpoint"}:
            problems.append(f"{call.describe()} {call.parameters}")
    return problems


def _injected_failure(call: ServiceCall, calls) -> Fail:
    """A non-transient failure of ``call``, named as Step Functions reports it for that integration."""
    if call.pattern == "sync":
        return Fail("States.TaskFailed", '{"FailureReason": "injected by the test: AlgorithmError: exit code 1"}')
    return Fail(
        "Harness.InjectedFailure",
        f"User: arn:aws:sts::123456789012:assumed-role/StateMachineRole/x is not authorized to perform: "
        f"{call.service}:{call.action} (injected by the test at state {call.state!r})",
    )


def injection_problems(task: str, result: ExecutionResult | None, definition: dict, live) -> list[str]:
    """Why the run where ``task`` failed for good is NOT a safe failure (empty list: it is).

    Safe = ends FAILED in a Fail state, a failure notice names the step (unless ``task`` is the
    notifier itself), and nothing deleted or repointed the live endpoint.
    """
    if result is None:
        return [f"{task}: no path reaches it"]
    if result.scenario_errors or result.unmocked or result.invalid_requests:
        return [f"{task}: the scenario did not answer every call\n{result.explain()}"]
    fail_states = {name for name, s in all_states(definition).items() if s["Type"] == "Fail"}
    last = result.states_entered[-1] if result.states_entered else None
    if result.status != "FAILED" or last not in fail_states:
        return [
            f"{task}: ended {result.status} in {last!r}, not in a Fail state (a Catch is missing?)\n{result.explain()}"
        ]
    problems = []
    publishes = result.calls_to("sns:publish")
    is_notifier = any(c.state == task for c in publishes)
    notices = [c for c in publishes if c.state != task]
    if not notices and not is_notifier:
        problems.append(f"{task}: failed without a notification\n{result.explain()}")
    elif not is_notifier and not any(task in str(c.parameters.get("Message")) for c in notices):
        problems.append(f"{task}: the notice does not name the failed step: {[c.parameters for c in notices]}")
    problems.extend(f"{task}: {p}" for p in live_endpoint_violations(result, live))
    return problems


def non_fatal_problems(task: str, result: ExecutionResult | None, base: ExecutionResult) -> list[str]:
    """Why the run where a baseline or evaluation ``task`` failed is NOT unaffected by it (empty list: it is)."""
    if result is None:
        return [f"{task}: no path reaches it"]
    if result.scenario_errors or result.unmocked or result.invalid_requests or result.status != base.status:
        return [f"{task}: a non-fatal task changed the run's end ({base.status} -> {result.status})\n{result.explain()}"]
    if task in BASELINE_TASKS:
        baseline = result.calls_to("lambda:invoke")[-1].parameters["Payload"]["baseline"]
        if baseline["status"] not in ("UNAVAILABLE", "TIMED_OUT") or not baseline.get("reason"):
            return [f"{task}: the evaluation was not told why the baseline is missing: {baseline}"]
        if baseline["status"] == "UNAVAILABLE" and task not in baseline["reason"]:
            return [f"{task}: the reason does not name the failed step: {baseline['reason']}"]
    if task == "Evaluate run":
        notices = [n["message"] for n in result.notifications if "evaluation" in str(n["subject"])]
        if not notices or "Evaluation report unavailable" not in str(notices[0]):
            return [f"{task}: the evaluation notice does not say the report is unavailable: {notices}"]
    return []


def test_the_non_fatal_tasks_exist_in_the_definition(pipeline_definition):
    assert set(BASELINE_TASKS) | set(EVALUATION_TASKS) <= set(task_names(pipeline_definition))


def test_every_task_failure_is_caught_notified_and_fails_safely(pipeline_definition, path_results, injected_results):
    problems = []
    for task, (base, result) in injected_results.items():
        if task in BASELINE_TASKS or task in EVALUATION_TASKS:
            problems.extend(non_fatal_problems(task, result, path_results[base]))
            continue
        live = scenarios.PATHS[base]().facts.get("live") if base else None
        problems.extend(injection_problems(task, result, pipeline_definition, live))
    assert not problems, f"{len(problems)} task(s) without a safe failure path:\n\n" + "\n\n".join(problems)


def test_the_catch_gap_detector_flags_an_uncaught_task():
    """Control: a Task without Catch, made to fail, is reported (so a pass above means something)."""
    definition = {
        "StartAt": "Create model",
        "States": {
            "Create model": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createModel",
                "Parameters": {"ModelName": "m"},
                "End": True,
            }
        },
    }
    scenario = Scenario("uncaught", responses={"Create model": _injected_failure})
    result = run_execution(definition, scenario)
    problems = injection_problems("Create model", result, definition, None)
    assert problems and "not in a Fail state" in problems[0]
