"""Execute a state-machine definition offline, in moto's Amazon States Language interpreter.

Why this shape: the issue asks to run the definition ``cdk synth`` produces, unchanged, with every
service answer mocked as the real service gives it. moto 5.2.5 interprets the definition (JSONPath,
intrinsic functions, Choice, Wait, Retry, Catch, Map, Parallel) but forwards each Task to its own
service mocks, which cannot run ``sagemaker:createTrainingJob.sync`` (rejected) nor
``glue:startJobRun.sync`` (crashes). So the harness replaces ONE method of the interpreter,
``StateTaskService._eval_execution`` (the place every service Task dispatches its call, whatever
the integration: optimized, ``.sync`` or ``aws-sdk``), with a function that records the call and
answers it from a :class:`Scenario`. The definition itself is never rewritten.

Everything else is moto's own code path: parameters are evaluated by moto (so a JSONPath that
does not resolve fails as on AWS with ``States.Runtime``), the history events are moto's, retries
and catches are moto's. Two more small patches keep the tests fast and observable: Wait states
and retry back-off intervals do not sleep but are recorded (seconds requested, per state), so a
test can assert "the throttled call was retried after 2 s" without waiting 2 s.

See docs/state-machine-tests.md for the full description and how to add a path.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
import types
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ds-on-aws-test-state-machine-role"
TERMINAL_EVENTS = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}


# --------------------------------------------------------------------------------------------
# What a Task asked for, and what the mocked service answers.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceCall:
    """One service call made by a Task state, as the interpreter evaluated it.

    ``parameters`` are the evaluated ``Parameters`` (JSONPath and intrinsics resolved), exactly
    what Step Functions would send to the service.
    """

    index: int
    state: str
    resource: str
    integration: str  # "aws-sdk" or "optimized"
    service: str  # "glue", "sagemaker", "sns", "sagemakerruntime", ...
    action: str  # API action as in the resource ARN: "startJobRun", "describeEndpoint", ...
    pattern: str | None  # None (request-response), "sync", "sync:2" or "waitForTaskToken"
    attempt: int  # 0 for the first attempt, n for the n-th retry
    parameters: dict

    @property
    def api(self) -> str:
        """``service:action``, the key a :class:`Scenario` answers by (besides the state name)."""
        return f"{self.service}:{self.action}"

    def describe(self) -> str:
        suffix = f".{self.pattern}" if self.pattern else ""
        return f"#{self.index} {self.state!r} {self.integration} {self.api}{suffix} attempt {self.attempt}"


@dataclass(frozen=True)
class Ok:
    """A successful answer: the task result, shaped as the AWS API reference says."""

    result: Any


@dataclass(frozen=True)
class Fail:
    """A failed call: the ``Error`` and ``Cause`` Step Functions reports for the task."""

    error: str
    cause: str


Reply = Ok | Fail
#: An entry of a scenario: a fixed reply, or a function of the call and the calls made before it.
Responder = Reply | Callable[[ServiceCall, Sequence[ServiceCall]], Reply]


@dataclass
class Scenario:
    """Everything one path needs: the execution input and the mocked answer of every call.

    ``responses`` maps a state name or an API key (``"sagemaker:describeEndpoint"``) to the
    answers of its successive calls; a state name wins over the API key. The last answer of a
    sequence is repeated when the sequence is exhausted. A call nobody answers fails the task
    with ``Harness.UnmockedCall`` (and is reported as such), so a scenario can never pass by
    accident.
    """

    name: str
    input: dict = field(default_factory=dict)
    responses: dict[str, Sequence[Responder] | Responder] = field(default_factory=dict)
    #: What the path assumes about the world (e.g. the live endpoint before the run), for assertions.
    facts: dict = field(default_factory=dict)

    def answers(self, key: str) -> list[Responder] | None:
        value = self.responses.get(key)
        if value is None:
            return None
        if isinstance(value, (Ok, Fail)) or callable(value):
            return [value]
        return list(value)


@dataclass(frozen=True)
class Sleep:
    """A pause the definition asked for and the harness skipped (Wait state or retry interval)."""

    kind: str  # "wait" or "retry"
    state: str
    seconds: float


@dataclass
class ExecutionResult:
    """The outcome of one execution, with what on-call needs to know when an assertion fails."""

    scenario: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    history: list[dict]
    calls: list[ServiceCall]
    replies: list[Reply]
    sleeps: list[Sleep]
    unmocked: list[ServiceCall]
    scenario_errors: list[str] = field(default_factory=list)
    invalid_requests: list[str] = field(default_factory=list)

    # ---- what happened ---------------------------------------------------------------------
    @property
    def states_entered(self) -> list[str]:
        """Names of the states in the order they were entered (from the execution history)."""
        return [e["stateEnteredEventDetails"]["name"] for e in self.history if "stateEnteredEventDetails" in e]

    def calls_to(self, api: str) -> list[ServiceCall]:
        """The calls to ``service:action`` (e.g. ``"sagemaker:createEndpoint"``), in order."""
        return [c for c in self.calls if c.api == api]

    def call_sequence(self, *, retries: bool = True) -> list[str]:
        """``service:action`` of every call, in order; ``retries=False`` keeps first attempts only."""
        return [c.api for c in self.calls if retries or c.attempt == 0]

    @property
    def notifications(self) -> list[dict]:
        """The SNS messages published: ``{"topic", "subject", "message"}`` (message parsed if JSON)."""
        found = []
        for call in self.calls_to("sns:publish"):
            message = call.parameters.get("Message")
            if isinstance(message, str):
                try:
                    message = json.loads(message)
                except ValueError:
                    pass
            found.append(
                {
                    "topic": call.parameters.get("TopicArn"),
                    "subject": call.parameters.get("Subject"),
                    "message": message,
                }
            )
        return found

    # ---- why it happened -------------------------------------------------------------------
    def failure_events(self) -> list[dict]:
        """History events that carry an error (task failures, state/evaluation failures)."""
        return [
            e
            for e in self.history
            if any(k.endswith("FailedEventDetails") for k in e) or e["type"] == "ExecutionFailed"
        ]

    def explain(self) -> str:
        """A readable account of the execution: status, failing state, error + cause, states, calls."""
        lines = [f"scenario {self.scenario!r}: execution {self.status}"]
        if self.error or self.cause:
            lines.append(f"  execution error: {self.error}")
            lines.append(f"  execution cause: {self.cause}")
        for event in self.failure_events():
            details = next((v for k, v in event.items() if k.endswith("FailedEventDetails")), {})
            lines.append(
                f"  event #{event['id']} {event['type']} in state {self._state_of(event)!r}: "
                f"error={details.get('error')!r} cause={details.get('cause')!r}"
            )
        for problem in self.invalid_requests:
            lines.append(f"  INVALID REQUEST {problem}")
        for problem in self.scenario_errors:
            lines.append(f"  SCENARIO ERROR {problem}")
        for call in self.unmocked:
            lines.append(
                f"  UNMOCKED CALL {call.describe()} parameters={json.dumps(call.parameters, default=str)[:400]}"
            )
        lines.append("  states entered: " + " -> ".join(self.states_entered))
        lines.append("  calls:")
        for call, reply in zip(self.calls, self.replies, strict=False):
            outcome = "ok" if isinstance(reply, Ok) else f"{reply.error}: {reply.cause[:160]}"
            lines.append(f"    {call.describe()} -> {outcome}")
        if self.sleeps:
            lines.append("  sleeps skipped: " + ", ".join(f"{s.kind} {s.state!r} {s.seconds}s" for s in self.sleeps))
        return "\n".join(lines)

    def _state_of(self, event: dict) -> str | None:
        """The state an event belongs to: the last state entered before it."""
        name = None
        for e in self.history:
            if e["id"] > event["id"]:
                break
            if "stateEnteredEventDetails" in e:
                name = e["stateEnteredEventDetails"]["name"]
        return name

    # ---- assertions with messages that name the failing state and expression ---------------
    def assert_status(self, expected: str) -> None:
        if self.invalid_requests:
            raise AssertionError("a Task sent a request the service would reject\n" + self.explain())
        if self.scenario_errors:
            raise AssertionError("the scenario itself failed to answer (fix the scenario)\n" + self.explain())
        if self.unmocked:
            raise AssertionError("the scenario left calls unanswered\n" + self.explain())
        if self.status != expected:
            raise AssertionError(f"expected {expected}, got {self.status}\n" + self.explain())

    def assert_states_in_order(self, expected: Sequence[str]) -> None:
        """``expected`` must appear in ``states_entered`` in this order (other states may sit between)."""
        entered = iter(self.states_entered)
        missing = [name for name in expected if not any(name == seen for seen in entered)]
        if missing:
            raise AssertionError(
                f"states not entered in order {list(expected)}; missing from {missing[0]!r} on\n" + self.explain()
            )

    def assert_not_entered(self, names: Sequence[str]) -> None:
        entered = [n for n in names if n in self.states_entered]
        if entered:
            raise AssertionError(f"states {entered} must not be entered on this path\n" + self.explain())


# --------------------------------------------------------------------------------------------
# The patch: one dispatch point answers every service Task from the scenario.
# --------------------------------------------------------------------------------------------


#: Step Functions service names whose botocore name differs.
_BOTO_SERVICE = {"sagemakerruntime": "sagemaker-runtime", "sfn": "stepfunctions", "states": "stepfunctions"}
_SERVICE_MODELS: dict[str, Any] = {}


def invalid_parameters(call: ServiceCall) -> str | None:
    """What the service would reject in ``call.parameters`` (botocore's own validator), or None.

    The parameters of every Task (optimized or ``aws-sdk``) are the API operation's request,
    PascalCase, so the operation's input shape in botocore's service model tells whether a key is
    unknown, a required one missing, or a value of the wrong type: the mistakes that pass
    ``cdk synth`` and asl-validator and fail on the first real run.
    """
    import botocore.session
    from botocore.exceptions import UnknownServiceError
    from botocore.validate import ParamValidator

    service = _BOTO_SERVICE.get(call.service, call.service)
    if service not in _SERVICE_MODELS:
        try:
            _SERVICE_MODELS[service] = botocore.session.get_session().get_service_model(service)
        except UnknownServiceError:
            return f"unknown service {call.service!r} (botocore {service!r})"
    model = _SERVICE_MODELS[service]
    operation = call.action[:1].upper() + call.action[1:]
    if operation not in model.operation_names:
        return f"{service} has no operation {operation!r}"
    parameters = call.parameters
    if service == "lambda" and isinstance(parameters.get("Payload"), (dict, list)):
        # The optimized lambda:invoke integration sends a JSON Payload serialized (the API's blob).
        parameters = {**parameters, "Payload": json.dumps(parameters["Payload"])}
    if service == "stepfunctions" and call.integration == "optimized":
        # The optimized states:startExecution integration names the API's members in PascalCase and sends an
        # object Input serialized; botocore's model spells them in camelCase.
        parameters = {k[:1].lower() + k[1:]: json.dumps(v) if k == "Input" and isinstance(v, (dict, list)) else v
                      for k, v in parameters.items()}
    report = ParamValidator().validate(parameters, model.operation_model(operation).input_shape)
    return report.generate_report() if report.has_errors() else None


class _Responder:
    """Answers service calls from a scenario, recording calls and replies (thread-safe)."""

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.calls: list[ServiceCall] = []
        self.replies: list[Reply] = []
        self.sleeps: list[Sleep] = []
        self.unmocked: list[ServiceCall] = []
        self.scenario_errors: list[str] = []
        self.invalid: list[str] = []
        self._cursor: dict[str, int] = {}
        self._lock = threading.Lock()

    def answer(self, call_fields: dict) -> tuple[ServiceCall, Reply]:
        with self._lock:
            call = ServiceCall(index=len(self.calls), **call_fields)
            key = call.state if self.scenario.answers(call.state) is not None else call.api
            answers = self.scenario.answers(key)
            rejected = invalid_parameters(call)
            if rejected:
                self.invalid.append(f"{call.describe()}: {rejected}")
                reply = Fail("Harness.InvalidParameters", f"the service would reject the request: {rejected}")
            elif answers is None:
                self.unmocked.append(call)
                reply: Reply = Fail(
                    "Harness.UnmockedCall",
                    f"scenario {self.scenario.name!r} has no answer for state {call.state!r} nor {call.api!r}",
                )
            else:
                position = self._cursor.get(key, 0)
                self._cursor[key] = position + 1
                entry = answers[min(position, len(answers) - 1)]
                try:
                    reply = entry(call, list(self.calls)) if callable(entry) else entry
                    if not isinstance(reply, (Ok, Fail)):
                        raise TypeError(f"{key!r} answered {reply!r}, not Ok/Fail")
                except Exception as exc:  # a broken scenario must not pass for a state-machine failure
                    self.scenario_errors.append(f"{call.describe()}: {type(exc).__name__}: {exc}")
                    reply = Fail("Harness.ScenarioError", f"scenario {self.scenario.name!r} failed to answer: {exc}")
            self.calls.append(call)
            self.replies.append(reply)
            return call, copy.deepcopy(reply)

    def record_sleep(self, kind: str, state: str, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(Sleep(kind, state, float(seconds)))


def _split_resource(resource_arn: str) -> tuple[str, str, str, str | None]:
    """``arn:aws:states:::aws-sdk:sagemaker:describeEndpoint`` -> (integration, service, action, pattern)."""
    tail = resource_arn.split(":::", 1)[-1]  # "glue:startJobRun.sync" or "aws-sdk:sagemaker:describeEndpoint"
    integration = "optimized"
    if tail.startswith("aws-sdk:"):
        integration, tail = "aws-sdk", tail[len("aws-sdk:") :]
    service, _, action = tail.partition(":")
    action, _, pattern = action.partition(".")
    return integration, service, action, (pattern or None)


_PARSE_TREES: dict[str, Any] = {}


def _parse_with_cached_tree(definition: str):
    """moto's ``AmazonStateLanguageParser.parse`` with the ANTLR parse tree cached per definition text.

    moto lexes and parses the definition twice per execution (create + start), ~0.6 s each for the
    pipeline's definition; the tree is immutable, so it is parsed once per test session. The
    evaluation components are still built fresh from it every time (they hold execution state).
    """
    from antlr4 import CommonTokenStream, InputStream
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLLexer import ASLLexer
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser
    from moto.stepfunctions.parser.asl.parse.asl_parser import ASLParserException, SyntaxErrorListener
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    if definition not in _PARSE_TREES:
        listener = SyntaxErrorListener()
        parser = ASLParser(CommonTokenStream(ASLLexer(InputStream(definition))))
        parser.removeErrorListeners()
        parser.addErrorListener(listener)
        tree = parser.state_machine()
        if listener.errors:
            raise ASLParserException(errors=listener.errors)
        _PARSE_TREES[definition] = tree
    tree = _PARSE_TREES[definition]
    return Preprocessor().visit(tree), tree


class _Active:
    """The responder of the execution running now (one at a time per interpreter)."""

    responder: _Responder | None = None


@contextmanager
def _patched_interpreter(active: _Active) -> Iterator[None]:
    """Route every service Task of moto's interpreter to ``active.responder``; skip (and record) sleeps."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.comparison_operator_type import (
        ComparisonOperatorType,
    )
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.comparison_variable import (
        ComparisonVariable,
    )
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.variable import NoSuchVariable
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.utils import json_path

    def eval_execution(self: StateTaskService, env) -> None:
        # Same steps as moto's StateTaskService._eval_execution, with the service call replaced.
        self.resource.eval(env=env)
        runtime_part = env.stack.pop()
        parameters = self._eval_parameters(env=env)
        credentials = self._eval_state_credentials(env=env)
        self._before_eval_execution(
            env=env, resource_runtime_part=runtime_part, raw_parameters=parameters, state_credentials=credentials
        )
        integration, service, action, pattern = _split_resource(self.resource.resource_arn)
        _, reply = active.responder.answer(
            {
                "state": self.name,
                "resource": self.resource.resource_arn,
                "integration": integration,
                "service": service,
                "action": action,
                "pattern": pattern,
                "attempt": env.states.context_object.context_object_data["State"]["RetryCount"],
                "parameters": copy.deepcopy(parameters),
            }
        )
        if isinstance(reply, Fail):
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    # "States.TaskFailed" (a .sync job that failed) is a reserved name, not a custom one.
                    error_name=(
                        StatesErrorName.from_name(reply.error)
                        if reply.error.startswith("States.")
                        else CustomErrorName(reply.error)
                    ),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(
                        taskFailedEventDetails=TaskFailedEventDetails(
                            error=reply.error,
                            cause=reply.cause,
                            resource=self._get_sfn_resource(),
                            resourceType=self._get_sfn_resource_type(),
                        )
                    ),
                )
            )
        env.stack.append(reply.result)
        # The base class records TaskSucceeded; the callback subclass would also poll the real
        # job for .sync, which is exactly what the scenario's reply stands for.
        StateTaskService._after_eval_execution(
            self,
            env=env,
            resource_runtime_part=runtime_part,
            normalised_parameters=parameters,
            state_credentials=credentials,
        )

    def compare_variable(self: ComparisonVariable, env) -> None:
        # AWS fails a Choice whose rule reads a path missing from the input (States.Runtime);
        # moto 5.2.5 treats it as "no match" and silently takes the Default branch.
        self.variable.eval(env)
        if isinstance(env.stack[-1], NoSuchVariable) and (
            self.comparison_function.operator_type != ComparisonOperatorType.IsPresent
        ):
            path = self.variable.string_sampler.literal_value
            cause = f"Invalid path '{path}': The choice state's condition path references an invalid value."
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(
                        taskFailedEventDetails=TaskFailedEventDetails(
                            error=StatesErrorNameType.StatesRuntime.to_name(), cause=cause
                        )
                    ),
                )
            )
        self.comparison_function.eval(env)

    slice_or_wildcard = json_path._contains_slice_or_wildcard_array

    def filter_yields_empty_list(path: str) -> bool:
        # On AWS a filter ``[?(...)]`` that matches nothing yields [] (like a wildcard); moto 5.2.5
        # raises "could not be found" (States.Runtime) instead: getmoto/moto#10078.
        return slice_or_wildcard(path) or "[?(" in path

    def wait_interval(self, env, wait_seconds: int) -> None:
        active.responder.record_sleep("wait", env.next_state_name, wait_seconds)

    def retry_sleep(seconds: float) -> None:
        # The retrier sleeps right after the failed attempt of its own state, in the same thread.
        active.responder.record_sleep(
            "retry", active.responder.calls[-1].state if active.responder.calls else "", seconds
        )

    class _RetryClock(types.SimpleNamespace):
        pass

    patches = [
        mock.patch.object(AmazonStateLanguageParser, "parse", staticmethod(_parse_with_cached_tree)),
        mock.patch.object(StateTaskService, "_eval_execution", eval_execution),
        # moto accepts only .waitForTaskToken for integrations it does not implement (sagemaker):
        # the scenario answers .sync calls, so the pattern check is moot here.
        mock.patch.object(StateTaskServiceCallback, "_assert_integration_pattern_is_supported", lambda self: None),
        mock.patch.object(ComparisonVariable, "_eval_body", compare_variable),
        mock.patch.object(json_path, "_contains_slice_or_wildcard_array", filter_yields_empty_list),
        mock.patch.object(WaitFunction, "_wait_interval", wait_interval),
        mock.patch.object(retrier_decl, "time", _RetryClock(sleep=retry_sleep, time=time.time)),
    ]
    for p in patches:
        p.start()
    try:
        yield
    finally:
        for p in reversed(patches):
            p.stop()


# --------------------------------------------------------------------------------------------
# Running an execution.
# --------------------------------------------------------------------------------------------

_names = itertools.count(1)


class Interpreter:
    """moto's Step Functions with ONE state machine, for several executions in a row.

    Creating the moto context and the state machine costs ~0.3 s; a fixture that runs many
    scenarios against the same definition uses one Interpreter (``with Interpreter(d) as it:
    it.run(scenario)``). Executions run one at a time: the patches answer from the current one.
    """

    def __init__(self, definition: Mapping):
        self.definition = definition
        self._active = _Active()
        self._stack: list = []

    def __enter__(self) -> Interpreter:
        import boto3
        from moto import mock_aws

        mocked = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        mocked.start()
        self._stack.append(mocked.stop)
        patches = _patched_interpreter(self._active)
        patches.__enter__()
        self._stack.append(lambda: patches.__exit__(None, None, None))
        self._sfn = boto3.client("stepfunctions", region_name=REGION)
        self._machine_arn = self._sfn.create_state_machine(
            name=f"sm-{uuid.uuid4().hex[:12]}", definition=json.dumps(self.definition), roleArn=ROLE_ARN
        )["stateMachineArn"]
        return self

    def __exit__(self, *exc) -> None:
        while self._stack:
            self._stack.pop()()

    def run(
        self, scenario: Scenario, *, execution_name: str | None = None, timeout_seconds: float = 30.0
    ) -> ExecutionResult:
        """Start one execution with ``scenario.input``, answer its calls from ``scenario``, wait for the end."""
        responder = self._active.responder = _Responder(scenario)
        try:
            execution_arn = self._sfn.start_execution(
                stateMachineArn=self._machine_arn,
                name=execution_name or f"{scenario.name}-{next(_names)}",
                input=json.dumps(scenario.input),
            )["executionArn"]
            history = _wait_for_end(self._sfn, self._machine_arn, execution_arn, timeout_seconds, responder)
        finally:
            self._active.responder = None
        return _result(scenario, history, responder)


def run_execution(
    definition: Mapping,
    scenario: Scenario,
    *,
    execution_name: str | None = None,
    timeout_seconds: float = 30.0,
) -> ExecutionResult:
    """Create the state machine in moto, run one execution of ``scenario``, return its result.

    ``definition`` is used as given (a dict, e.g. from ``stacks.review_artifacts.resolve_definition``).
    """
    with Interpreter(definition) as interpreter:
        return interpreter.run(scenario, execution_name=execution_name, timeout_seconds=timeout_seconds)


def _history(sfn, execution_arn: str) -> list[dict]:
    events: list[dict] = []
    kwargs = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def _wait_for_end(
    sfn, machine_arn: str, execution_arn: str, timeout_seconds: float, responder: _Responder
) -> list[dict]:
    """Poll the execution's status (cheap), then read its history once.

    ``list_executions`` rather than ``describe_execution`` (which can choke on outputs in moto) or
    the history (serializing it on every poll costs ~0.1 s).
    """
    deadline = time.monotonic() + timeout_seconds
    delay = 0.005
    while True:
        listed = sfn.list_executions(stateMachineArn=machine_arn)["executions"]
        status = next((e["status"] for e in listed if e["executionArn"] == execution_arn), "RUNNING")
        if status != "RUNNING":
            events = _history(sfn, execution_arn)
            if any(e["type"] in TERMINAL_EVENTS for e in events):
                return events
        if time.monotonic() > deadline:
            events = _history(sfn, execution_arn)
            calls = "\n".join(c.describe() for c in responder.calls)
            raise AssertionError(
                f"execution did not end within {timeout_seconds}s; last events "
                f"{[e['type'] for e in events[-5:]]}; calls so far:\n{calls}"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _result(scenario: Scenario, history: list[dict], responder: _Responder) -> ExecutionResult:
    terminal = next(e for e in history if e["type"] in TERMINAL_EVENTS)
    status = TERMINAL_EVENTS[terminal["type"]]
    output = error = cause = None
    if status == "SUCCEEDED":
        raw = terminal["executionSucceededEventDetails"].get("output")
        output = json.loads(raw) if raw else None
    else:
        details = next((v for k, v in terminal.items() if k.endswith("EventDetails")), {})
        error, cause = details.get("error"), details.get("cause")
    return ExecutionResult(
        scenario=scenario.name,
        status=status,
        output=output,
        error=error,
        cause=cause,
        history=history,
        calls=list(responder.calls),
        replies=list(responder.replies),
        sleeps=list(responder.sleeps),
        unmocked=list(responder.unmocked),
        scenario_errors=list(responder.scenario_errors),
        invalid_requests=list(responder.invalid),
    )
