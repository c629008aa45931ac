"""The instance-backed endpoint variant (``endpoint.mode = "instance"`` in cdk.json) is a different
synthesized definition: it must validate and run its first-run and update paths as well."""

from __future__ import annotations

import pytest

from tests.statemachine import scenarios
from tests.statemachine.harness import Interpreter
from tests.statemachine.test_asl_validator import _validate

pytestmark = pytest.mark.slow  # one more synthesis (~10-25 s)


def test_instance_mode_definition_passes_asl_validator(instance_mode_definition, tmp_path):
    done = _validate(instance_mode_definition, tmp_path / "instance.asl.json")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"


def test_instance_mode_first_run_and_update(instance_mode_definition, pipeline_config):
    with Interpreter(instance_mode_definition) as interpreter:
        first = interpreter.run(scenarios.first_run())
        later = interpreter.run(scenarios.later_run())
    first.assert_status("SUCCEEDED")
    later.assert_status("SUCCEEDED")
    (config,) = first.calls_to("sagemaker:createEndpointConfig")
    variant = config.parameters["ProductionVariants"][0]
    assert "ServerlessConfig" not in variant
    assert variant["InstanceType"] == pipeline_config.endpoint.instance_type
    assert variant["InitialInstanceCount"] == pipeline_config.endpoint.initial_instance_count
    assert config.parameters["KmsKeyId"].startswith("arn:"), "instance volumes are encrypted with the data key"
    assert later.calls_to("sagemaker:updateEndpoint") and not later.calls_to("sagemaker:createEndpoint")
