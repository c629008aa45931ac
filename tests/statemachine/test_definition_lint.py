"""Static checks on the synthesized definition for what the offline execution cannot see for itself.

* Intrinsic-function string literals carry no backslash escapes (``\\'``, ``\\{``, ``\\}``, ``\\\\``):
  they are valid on AWS, but moto's intrinsic parser silently truncates the literal at the escape,
  so a path through such a state is not really proven offline (the message it builds is garbage).
* Every Choice has a Default: without one, an unexpected value ends the run with
  ``States.NoChoiceMatched``, which no Catch can handle (Choice states have no Catch) and no one is
  notified about.
"""

from __future__ import annotations

from collections.abc import Iterator

from tests.statemachine.test_coverage import all_states


def _dynamic_values(value, where: str) -> Iterator[tuple[str, str]]:
    """(location, expression) of every ``"<key>.$"`` field under ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith(".$") and isinstance(item, str):
                yield f"{where}.{key}", item
            else:
                yield from _dynamic_values(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _dynamic_values(item, f"{where}[{i}]")


def test_intrinsic_literals_have_no_escapes(pipeline_definition):
    offending = [
        f"{where}: {expression}"
        for name, state in all_states(pipeline_definition).items()
        for where, expression in _dynamic_values(state, name)
        if expression.startswith("States.") and "\\" in expression
    ]
    assert not offending, (
        "escaped characters in intrinsic string literals cannot be executed offline (moto truncates the literal); "
        "reword the text:\n" + "\n".join(offending)
    )


def test_every_choice_has_a_default(pipeline_definition):
    missing = [
        name
        for name, state in all_states(pipeline_definition).items()
        if state["Type"] == "Choice" and "Default" not in state
    ]
    assert not missing, f"Choice states without Default (an unexpected value ends the run un-notified): {missing}"


def test_the_lint_sees_an_escape():
    """Control: the check above flags a literal with an escaped quote."""
    state = {"Parameters": {"message.$": "States.Format('the live model\\'s {}', $.x)"}}
    assert [e for _, e in _dynamic_values(state, "S") if "\\" in e]
