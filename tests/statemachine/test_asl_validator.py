"""Every synthesized state machine passes asl-validator (npm) once its CloudFormation tokens are resolved.

cfn-lint does not look inside a ``DefinitionString`` that is an ``Fn::Join`` (which CDK emits), so
the definition is resolved with ``stacks.review_artifacts.resolve_definition`` and validated here:
state types, ``Next``/``Default`` targets, unreachable states, unknown fields, JSONPath syntax.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = PROJECT_ROOT / "node_modules" / ".bin" / "asl-validator"


def _validate(definition: dict, path: Path) -> subprocess.CompletedProcess:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: asl-validator (npm) cannot run; `make install` needs Node.js >= 20")
    if not VALIDATOR.exists():
        pytest.skip(f"{VALIDATOR.relative_to(PROJECT_ROOT)} missing: run `make install` (npm ci)")
    path.write_text(json.dumps(definition, indent=2), encoding="utf-8")
    return subprocess.run(
        [str(VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def _leftover_tokens(value, where="$") -> list[str]:
    """CloudFormation intrinsics or unresolved CDK tokens still present in a resolved definition."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("Ref", "Condition") or key.startswith("Fn::"):
                found.append(f"{where}.{key}")
            found.extend(_leftover_tokens(item, f"{where}.{key}"))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(_leftover_tokens(item, f"{where}[{i}]"))
    elif isinstance(value, str) and ("${Token[" in value or "AWS::" in value):
        found.append(f"{where} = {value!r}")
    return found


def test_every_synthesized_state_machine_passes_asl_validator(synthesized_state_machines, tmp_path):
    for machine in synthesized_state_machines:
        assert not _leftover_tokens(machine.definition), (
            f"{machine.stack_id}/{machine.logical_id}: unresolved tokens {_leftover_tokens(machine.definition)}"
        )
        done = _validate(machine.definition, tmp_path / f"{machine.stack_id}-{machine.logical_id}.asl.json")
        assert done.returncode == 0, (
            f"asl-validator rejected {machine.stack_id}/{machine.logical_id}:\n{done.stdout}\n{done.stderr}"
        )


def test_asl_validator_rejects_a_broken_transition(pipeline_definition, tmp_path):
    """Control: the same check fails when the definition is broken, so a pass above means something."""
    broken = copy.deepcopy(pipeline_definition)
    start = broken["StartAt"]
    broken["States"][start].pop("End", None)
    broken["States"][start]["Next"] = "NoSuchState"
    done = _validate(broken, tmp_path / "broken.asl.json")
    assert done.returncode != 0
    assert "NoSuchState" in done.stdout + done.stderr
