"""What every stage of the state machine is: a named ``StateMachineFragment`` with one start and its ends."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jsii
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct


class Stage(sfn.StateMachineFragment):
    """A fragment whose start state and end states are set once by the subclass with :meth:`_stage`."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self._start: sfn.State | None = None
        self._ends: list[sfn.INextable] = []

    def _stage(self, start: sfn.State, ends: Sequence[sfn.INextable]) -> None:
        self._start, self._ends = start, list(ends)

    @property
    def start_state(self) -> sfn.State:
        assert self._start is not None, f"{self.node.path}: the stage has no start state"
        return self._start

    @property
    def end_states(self) -> list[sfn.INextable]:
        return self._ends


@jsii.implements(sfn.INextable)
class ChoiceBranch:
    """The end of a stage that is a branch of a Choice: ``next(state)`` adds ``when(condition, state)`` to the
    Choice, or makes ``state`` its default when ``condition`` is None."""

    def __init__(self, choice: sfn.Choice, condition: sfn.Condition | None = None) -> None:
        self._choice, self._condition = choice, condition

    def next(self, state: sfn.IChainable) -> sfn.Chain:
        if self._condition is None:
            self._choice.otherwise(state)
        else:
            self._choice.when(self._condition, state)
        return sfn.Chain.start(state)


@jsii.implements(sfn.INextable)
class Continuation:
    """The end of a stage whose wiring needs the next state itself: ``next(state)`` calls ``wire(state)``."""

    def __init__(self, wire: Callable[[sfn.IChainable], None]) -> None:
        self._wire = wire

    def next(self, state: sfn.IChainable) -> sfn.Chain:
        self._wire(state)
        return sfn.Chain.start(state)
