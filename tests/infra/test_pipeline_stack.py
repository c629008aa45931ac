"""The pipeline stack: Glue job, SageMaker training and hosting, the state machine, its roles and outputs.

Most assertions read the state machine's definition resolved to plain ASL (``stacks.review_artifacts``), so they
check what Step Functions will execute, not how CDK spells it. One extra synthesis ("variant") flips the config
switches (instance endpoint, upload trigger, no spot, no live comparison, an e-mail) to prove each one is honoured.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterator

import pytest
from aws_cdk import App

from ds_on_aws.config import CONTEXT_KEY, load_config
from ds_on_aws.sagemaker_jobs import (
    ChannelSpec,
    CodeDeliveryError,
    TrainingJobSpec,
    check_training_spec,
    endpoint_model_spec,
)
from stacks.app_builder import PIPELINE_STACK_ID, build_app
from stacks.constructs.cleanup import STACK_TAG_KEY
from stacks.constructs.notifications import TRANSIENT_ERRORS
from stacks.constructs.training import image_accounts
from stacks.constructs.transformer_training import dlc_accounts
from stacks.review_artifacts import resolve_definition, state_machines
from stacks.state_machine.beside_training import NON_FATAL_TASKS as EVALUATION_TASKS
from tests.cdk_support import synthesize_or_explain

CONFIG = load_config()
SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
STATE_MACHINE = "AWS::StepFunctions::StateMachine"


# --- helpers ---------------------------------------------------------------------------------------------------


def definition_of(templates: dict, samples: dict | None = None) -> dict:
    template = templates[PIPELINE_STACK_ID]
    (logical_id,) = state_machines(template)
    return resolve_definition(template, logical_id, samples, stack_name=PIPELINE_STACK_ID, other_templates=templates)


def resources_of(template: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def statements_of(template: dict, policy_path_fragment: str) -> list[dict]:
    """Statements of the AWS::IAM::Policy under construct path ``policy_path_fragment`` (logical id prefix)."""
    found = []
    prefix = policy_path_fragment.replace("/", "")
    for logical_id, resource in resources_of(template, "AWS::IAM::Policy").items():
        if logical_id.startswith(prefix):
            found += resource["Properties"]["PolicyDocument"]["Statement"]
    assert found, f"no IAM policy under {policy_path_fragment}"
    return found


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def all_states(definition: dict) -> dict[str, dict]:
    """Every state by name, also inside Parallel branches (training runs in one, beside the managed baseline)."""
    found = {}
    for name, state in definition["States"].items():
        found[name] = state
        for branch in state.get("Branches", []):
            found.update(all_states(branch))
    return found


def task_states(definition: dict) -> Iterator[tuple[str, dict]]:
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            yield name, state


def task_states_deep(definition: dict) -> Iterator[tuple[str, dict]]:
    """Task states, also inside Parallel branches and Map iterators."""
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            yield name, state
        for branch in state.get("Branches", []):
            yield from task_states_deep(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from task_states_deep(state[key])


@pytest.fixture(scope="module")
def definition(templates) -> dict:
    return definition_of(templates)


@pytest.fixture(scope="module")
def pipeline(templates) -> dict:
    return templates[PIPELINE_STACK_ID]


@pytest.fixture(scope="module")
def variant(cdk_context, tmp_path_factory) -> tuple[dict, dict]:
    """(templates, definition) of the app synthesized with every switch flipped away from cdk.json."""
    context = copy.deepcopy(cdk_context)
    settings = context[CONTEXT_KEY]
    settings["endpoint"]["mode"] = "instance"
    settings["trigger_on_upload"] = True
    settings["notification_email"] = "oncall@example.com"
    settings["training"]["use_spot"] = False
    settings["model_quality"]["compare_with_live"] = False
    outdir = tmp_path_factory.mktemp("variant.out")
    app = App(context=context, outdir=str(outdir))
    build_app(app)
    assembly = synthesize_or_explain(app, outdir)
    templates = {}
    for stack in assembly.stacks:
        templates[stack.stack_name] = stack.template
    return templates, definition_of(templates)


# --- training ----------------------------------------------------------------------------------------------------


def test_training_uses_managed_spot_with_a_max_wait(definition):
    parameters = all_states(definition)["Train model"]["Parameters"]
    assert parameters["EnableManagedSpotTraining"] is True
    stopping = parameters["StoppingCondition"]
    assert stopping == {
        "MaxRuntimeInSeconds": CONFIG.training.max_runtime_seconds,
        "MaxWaitTimeInSeconds": CONFIG.training.max_wait_seconds,
    }
    assert stopping["MaxWaitTimeInSeconds"] >= stopping["MaxRuntimeInSeconds"]


def test_spot_can_be_switched_off(variant):
    parameters = all_states(variant[1])["Train model"]["Parameters"]
    assert "EnableManagedSpotTraining" not in parameters
    assert "MaxWaitTimeInSeconds" not in parameters["StoppingCondition"]


def test_training_and_instance_models_run_with_network_isolation(definition, variant):
    assert all_states(definition)["Train model"]["Parameters"]["EnableNetworkIsolation"] is True
    # serverless endpoints do not support network isolation (SageMaker feature exclusion): off for the default ...
    assert CONFIG.endpoint.mode == "serverless"
    assert all_states(definition)["Create model"]["Parameters"]["EnableNetworkIsolation"] is False
    # ... and on for instance-backed endpoints
    assert all_states(variant[1])["Create model"]["Parameters"]["EnableNetworkIsolation"] is True


def test_training_volume_and_output_are_encrypted_with_the_data_key(definition, templates):
    data_key_arn = resolve_definition_value(templates, "DataKeyArn")
    parameters = all_states(definition)["Train model"]["Parameters"]
    assert parameters["ResourceConfig"]["VolumeKmsKeyId"] == data_key_arn
    assert parameters["OutputDataConfig"]["KmsKeyId"] == data_key_arn
    assert data_key_arn.startswith("arn:aws:kms:")


def resolve_definition_value(templates: dict, output: str) -> str:
    """An output of the data stack resolved with the same sample values as the definitions."""
    from stacks.review_artifacts import _Resolver  # the same resolver resolve_definition uses

    data = templates["DsOnAws-Data"]
    return _Resolver(data, "DsOnAws-Data", {}, templates).resolve(data["Outputs"][output]["Value"])


def test_metric_definitions_parse_every_split_and_metric(definition):
    metric_definitions = all_states(definition)["Train model"]["Parameters"]["AlgorithmSpecification"][
        "MetricDefinitions"
    ]
    by_name = {m["Name"]: m["Regex"] for m in metric_definitions}
    expected = {f"{s}:{m}" for s in ("train", "validation", "test") for m in ("accuracy", "f1", "roc_auc")}
    assert set(by_name) == expected
    log = "epoch done\nvalidation:accuracy=0.9123\ntrain:accuracy=0.99\nvalidation:f1=0.91\n"
    assert re.findall(by_name["validation:accuracy"], log) == ["0.9123"]
    assert re.findall(by_name["train:accuracy"], log) == ["0.99"]


def test_training_reads_the_run_channels_and_writes_the_run_model_prefix(definition):
    parameters = all_states(definition)["Train model"]["Parameters"]
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"] for c in parameters["InputDataConfig"]}
    assert set(channels) == {"train", "validation", "code"}
    for name in ("train", "validation"):
        source = channels[name]
        assert source == {
            "S3Uri.$": f"$.run.channels.{name}",
            "S3DataType": "S3Prefix",
            "S3DataDistributionType": "FullyReplicated",
        }
    assert parameters["OutputDataConfig"]["S3OutputPath.$"] == "$.run.model_output_uri"
    assert parameters["HyperParameters.$"] == "$.run.hyperparameters"
    derive = all_states(definition)["Derive run names"]["Parameters"]
    assert re.fullmatch(
        r"States\.Format\('s3://[a-z0-9.-]+/curated/\{\}/train/', \$\$\.Execution\.Name\)",
        derive["channels"]["train.$"],
    )
    assert re.fullmatch(
        r"States\.Format\('s3://[a-z0-9.-]+/models/\{\}/', \$\$\.Execution\.Name\)", derive["model_output_uri.$"]
    )


def test_script_mode_hyperparameters_come_last_and_point_into_the_code_channel(definition):
    # A network-isolated job cannot download s3:// code: the code is the "code" input channel (the code asset),
    # and sagemaker_submit_directory names the file SageMaker puts there before the container starts.
    load = all_states(definition)["Load defaults"]["Parameters"]
    script_mode = load["script_mode"]
    assert script_mode == {
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": "/opt/ml/input/data/code/sourcedir.tar.gz",
    }
    parameters = all_states(definition)["Train model"]["Parameters"]
    (code,) = [c for c in parameters["InputDataConfig"] if c["ChannelName"] == "code"]
    assert re.fullmatch(
        r"s3://cdk-[a-z0-9]+-assets-123456789012-us-east-1/[0-9a-f]{64}\.gz", code["DataSource"]["S3DataSource"]["S3Uri"]
    )
    assert code["DataSource"]["S3DataSource"]["S3DataType"] == "S3Prefix"
    assert code["CompressionType"] == "None"  # the launcher extracts the tarball itself
    assert parameters["EnableNetworkIsolation"] is True
    # sagemaker-training's launcher, named explicitly: it keeps the script's failure reason.
    assert parameters["AlgorithmSpecification"]["ContainerEntrypoint"] == ["python3", "-m", "sagemaker_training.cli.train"]
    merge = all_states(definition)["Derive run names"]["Parameters"]["hyperparameters.$"]
    # per key: config < input, then the script-mode keys, which an input cannot override
    assert merge == (
        "States.JsonMerge(States.JsonMerge($.prepare.defaults.hyperparameters, "
        "$.prepare.merged.settings.hyperparameters, false), $.prepare.script_mode, false)"
    )


@pytest.mark.parametrize("mode", ["serverless", "instance"])
def test_the_model_runs_the_code_inside_model_tar_gz_in_both_modes(definition, variant, mode):
    chosen = definition if mode == "serverless" else variant[1]
    parameters = all_states(chosen)["Create model"]["Parameters"]
    assert parameters["PrimaryContainer"]["Environment"] == dict(endpoint_model_spec(mode).environment)
    assert parameters["PrimaryContainer"]["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert parameters["EnableNetworkIsolation"] is (mode == "instance")


def _values_of_key(document, key: str) -> list:
    if isinstance(document, dict):
        found = [v for k, v in document.items() if k == key]
        return found + [x for v in document.values() for x in _values_of_key(v, key)]
    if isinstance(document, list):
        return [x for v in document for x in _values_of_key(v, key)]
    return []


def test_every_training_task_of_every_state_machine_gets_its_code_without_network(templates):
    # The rule for every recipe: an isolated job's code is one of its channels, never an s3:// submit directory.
    trainings = 0
    for stack_name, template in templates.items():
        for logical_id in state_machines(template):
            definition = resolve_definition(template, logical_id, None, stack_name=stack_name,
                                            other_templates=templates)
            submit_directories = _values_of_key(definition, "sagemaker_submit_directory")
            for _, state in task_states_deep(definition):
                if "createTrainingJob" not in state["Resource"]:
                    continue
                trainings += 1
                parameters = state["Parameters"]
                assert parameters.get("EnableNetworkIsolation") is True, "training jobs run network-isolated"
                channels = tuple(ChannelSpec(c["ChannelName"], "s3://x/") for c in parameters["InputDataConfig"])
                assert submit_directories, "the script-mode keys must be written in the definition"
                for submit in submit_directories:
                    check_training_spec(TrainingJobSpec(  # raises CodeDeliveryError naming the problem
                        channels=channels,
                        script_mode={"sagemaker_program": "train.py", "sagemaker_submit_directory": submit},
                        network_isolation=True,
                    ))
    assert trainings >= 1


def test_a_training_spec_with_s3_code_under_isolation_cannot_be_synthesized():
    with pytest.raises(CodeDeliveryError, match="cannot download"):
        check_training_spec(TrainingJobSpec(
            channels=(ChannelSpec("train", "s3://x/"),),
            script_mode={"sagemaker_program": "train.py", "sagemaker_submit_directory": "s3://assets/abc.gz"},
        ))


def test_image_is_resolved_per_region_from_the_mapping(pipeline, templates):
    mapping = pipeline["Mappings"]["SklearnImageAccounts"]
    assert {region: row["account"] for region, row in mapping.items()} == image_accounts()
    assert len(mapping) >= 35
    raw = json.dumps(pipeline["Resources"])
    # no registry account or region literal anywhere outside the mapping
    assert not re.search(r"\b\d{12}\.dkr\.ecr", raw)
    assert '"Fn::FindInMap": ["SklearnImageAccounts", {"Ref": "AWS::Region"}, "account"]' in raw
    for region in ("us-east-1", "eu-west-1", "ap-southeast-2"):
        definition = definition_of(templates, {"AWS::Region": region})
        image = all_states(definition)["Train model"]["Parameters"]["AlgorithmSpecification"]["TrainingImage"]
        assert (
            image
            == f"{image_accounts()[region]}.dkr.ecr.{region}.amazonaws.com/sagemaker-scikit-learn:{CONFIG.training.framework_version}-cpu-py3"
        )
        # "Create model" deploys the image the training branch recorded: the scikit-learn one for the linear recipe.
        assert all_states(definition)["Serve with the scikit-learn image"]["Parameters"]["image"] == image
        assert all_states(definition)["Create model"]["Parameters"]["PrimaryContainer"]["Image.$"] == "$.serving.image"
        dlc = dlc_accounts()[region]
        tf = CONFIG.transformer
        fine_tune = all_states(definition)["Fine-tune transformer"]["Parameters"]["AlgorithmSpecification"]
        assert fine_tune["TrainingImage"] == (f"{dlc}.dkr.ecr.{region}.amazonaws.com/huggingface-pytorch-training:"
                                              f"{tf.framework_version}-gpu-{tf.python_cuda}")
        assert all_states(definition)["Serve with the transformer image"]["Parameters"]["image"] == (
            f"{dlc}.dkr.ecr.{region}.amazonaws.com/huggingface-pytorch-inference:{tf.serving_version}-cpu-"
            f"{tf.serving_python}")


# --- hosting -----------------------------------------------------------------------------------------------------


def test_endpoint_config_is_serverless_by_default(definition):
    parameters = all_states(definition)["Create endpoint config"]["Parameters"]
    (variant,) = parameters["ProductionVariants"]
    assert variant["ServerlessConfig"] == {
        "MemorySizeInMB": CONFIG.endpoint.serverless_memory_mb,
        "MaxConcurrency": CONFIG.endpoint.serverless_max_concurrency,
    }
    assert "InstanceType" not in variant and "KmsKeyId" not in parameters


def test_endpoint_config_is_instance_backed_when_configured(variant):
    parameters = all_states(variant[1])["Create endpoint config"]["Parameters"]
    (production,) = parameters["ProductionVariants"]
    assert "ServerlessConfig" not in production
    assert production["InstanceType"] == CONFIG.endpoint.instance_type
    assert production["InitialInstanceCount"] == CONFIG.endpoint.initial_instance_count
    assert parameters["KmsKeyId"].startswith("arn:aws:kms:")


def test_endpoint_is_created_on_first_run_and_updated_later(definition):
    choice = all_states(definition)["Live endpoint exists?"]
    assert choice["Choices"] == [{"Variable": "$.live.exists", "BooleanEquals": True, "Next": "Update live endpoint"}]
    assert choice["Default"] == "Create endpoint"
    assert all_states(definition)["Update live endpoint"]["Resource"].endswith(":sagemaker:updateEndpoint")
    assert all_states(definition)["Create endpoint"]["Resource"].endswith(":sagemaker:createEndpoint")
    not_found = all_states(definition)["Look up live endpoint"]["Catch"][0]
    assert not_found["Next"] == "Endpoint not found?"
    rule = all_states(definition)["Endpoint not found?"]["Choices"][0]
    assert {"Variable": "$.live_error.Cause", "StringMatches": "*Could not find endpoint*"} in rule["And"]
    assert rule["And"][0] == {"Variable": "$.live_error.Cause", "IsPresent": True}


def test_wait_loop_accepts_only_the_new_config_and_gives_up(definition):
    ready = all_states(definition)["Endpoint ready?"]
    first = ready["Choices"][0]
    assert first["Next"] == "Smoke test endpoint"
    assert {"Variable": "$.endpoint.EndpointConfigName", "StringEqualsPath": "$.run.names.endpoint_config"} in first[
        "And"
    ]
    targets = [c["Next"] for c in ready["Choices"]]
    assert targets[1] == "Endpoint update rolled back"  # InService on the old config = failed update
    assert "Wait for endpoint" in targets and "Endpoint wait timed out" in targets
    timeout_rule = next(c for c in ready["Choices"] if c["Next"] == "Endpoint wait timed out")
    assert timeout_rule["NumericGreaterThanEquals"] == CONFIG.endpoint.max_wait_attempts
    assert all_states(definition)["Wait for endpoint"]["Seconds"] == CONFIG.endpoint.wait_seconds
    # only an endpoint this run created (no live endpoint before) is ever deleted
    delete_rule = next(c for c in ready["Choices"] if c["Next"] == "Delete failed new endpoint")
    assert {"Variable": "$.live.exists", "BooleanEquals": False} in delete_rule["And"]
    deleting = [n for n, s in task_states(definition) if s["Resource"].endswith(("deleteEndpoint", "updateEndpoint"))]
    assert sorted(deleting) == ["Delete failed new endpoint", "Restore previous model", "Update live endpoint"]


def test_smoke_test_and_accuracy_record(definition):
    smoke = all_states(definition)["Smoke test endpoint"]
    assert smoke["Resource"].endswith("aws-sdk:sagemakerruntime:invokeEndpoint")
    assert len(json.loads(smoke["Parameters"]["Body"])["instances"]) == 2
    record = all_states(definition)["Record live model accuracy"]["Parameters"]
    assert {"Key": "ds-on-aws:validation-accuracy", "Value.$": "States.Format('{}', $.gate.accuracy)"} in record["Tags"]
    assert all_states(definition)["Record live model accuracy"]["Next"] == "Notify deployed"


def test_every_created_sagemaker_resource_is_tagged_with_stack_and_execution(definition):
    tags = all_states(definition)["Derive run names"]["Parameters"]["tags"]
    assert {"Key": STACK_TAG_KEY, "Value": PIPELINE_STACK_ID} in tags
    assert {"Key": "ds-on-aws:execution", "Value.$": "$$.Execution.Name"} in tags
    for state in ("Create model", "Create endpoint config", "Create endpoint"):
        assert all_states(definition)[state]["Parameters"]["Tags.$"] == "$.run.tags"
    training_tags = all_states(definition)["Train model"]["Parameters"]["Tags"]
    assert {"Key": STACK_TAG_KEY, "Value": PIPELINE_STACK_ID} in training_tags


# --- names, gate, input -----------------------------------------------------------------------------------------


def test_names_are_derived_from_the_execution(definition):
    derive = all_states(definition)["Derive run names"]["Parameters"]
    prefix = f"{CONFIG.project_name}-"
    for kind in ("training_job", "model", "endpoint_config"):
        assert derive["names"][f"{kind}.$"] == f"States.Format('{prefix}{{}}', States.Hash($$.Execution.Id, 'MD5'))"
    assert derive["run_id.$"] == "$$.Execution.Name"
    # the scheme is valid for the longest, oddest execution name Step Functions allows
    execution_arn = "arn:aws:states:us-east-1:123456789012:execution:ds-on-aws-pipeline:" + "Run_2026.11.26+x" * 5
    name = prefix + hashlib.md5(execution_arn.encode()).hexdigest()
    assert SAGEMAKER_NAME.match(name) and len(name) <= 63


def test_gate_compares_with_threshold_and_live_model(definition, variant):
    gate = all_states(definition)["Model-quality gate"]
    assert gate["Choices"][0] == {
        "Variable": "$.gate.accuracy",
        "NumericLessThanPath": "$.run.min_accuracy",
        "Next": "Below threshold",
    }
    assert gate["Choices"][1]["Next"] == "Worse than live model"
    assert gate["Default"] == "Deploy?"
    rejected = all_states(definition)["Model rejected"]
    assert rejected == {
        "Type": "Fail",
        "Comment": "The live endpoint was not touched.",
        "Error": "ModelRejected",
        "CausePath": "$.rejection.message",
    }
    assert "is below the threshold" in all_states(definition)["Below threshold"]["Parameters"]["message.$"]
    variant_gate = all_states(variant[1])["Model-quality gate"]
    assert [c["Next"] for c in variant_gate["Choices"]] == ["Below threshold"]


def test_accuracy_is_read_from_the_final_metric_list(definition):
    assert all_states(definition)["Train model"]["ResultPath"] == "$.training_job"
    assert "ResultSelector" not in all_states(definition)["Train model"]  # FinalMetricDataList may be absent
    present = all_states(definition)["Metrics reported?"]
    assert present["Choices"][0] == {
        "Variable": "$.training_job.FinalMetricDataList",
        "IsPresent": True,
        "Next": "Read validation accuracy",
    }
    assert present["Default"] == "Read validation accuracy failed"
    read = all_states(definition)["Read validation accuracy"]["Parameters"]
    assert read["values.$"] == "$.training_job.FinalMetricDataList[?(@.MetricName == 'validation:accuracy')].Value"
    assert read["model_data_url.$"] == "$.training_job.ModelArtifacts.S3ModelArtifacts"
    reported = all_states(definition)["Accuracy reported?"]["Choices"][0]["And"]
    assert reported[0] == {"Variable": "$.training.values[0]", "IsPresent": True}  # never compare a missing path
    assert all_states(definition)["Accuracy reported?"]["Default"] == "Read validation accuracy failed"
    tags = all_states(definition)["Tags listed?"]
    assert tags["Choices"][0] == {"Variable": "$.live_tags.Tags", "IsPresent": True, "Next": "Find accuracy tag"}
    assert tags["Default"] == "Model-quality gate"
    assert "ResultSelector" not in all_states(definition)["Read live model accuracy"]
    # $.live.accuracy exists on every path into the gate, so its comparison never reads a missing path
    assert all_states(definition)["No live endpoint"]["Parameters"]["accuracy"] == 0
    assert all_states(definition)["Look up live endpoint"]["ResultSelector"]["accuracy"] == 0


def test_defaults_come_from_the_configuration(definition, templates):
    defaults = all_states(definition)["Load defaults"]["Parameters"]["defaults"]
    raw_bucket = resolve_definition_value(templates, "RawBucketName")
    assert defaults == {
        "raw_s3_uri": f"s3://{raw_bucket}/{CONFIG.raw_prefix}",
        "hyperparameters": CONFIG.training.hyperparameters,
        "min_accuracy": CONFIG.model_quality.min_accuracy,
        "endpoint_name": CONFIG.endpoint.name,
        "deploy": True,
        "recipe": CONFIG.training.recipe,
    }
    transformer_defaults = all_states(definition)["Load defaults"]["Parameters"]["transformer_defaults"]
    assert transformer_defaults == {"hyperparameters": {"model_name": CONFIG.transformer.model_name,
                                                        **CONFIG.transformer.hyperparameters}}
    assert all_states(definition)["Load defaults"]["Parameters"]["input.$"] == "$$.Execution.Input"
    assert definition["StartAt"] == "Load defaults"
    invalid = all_states(definition)["Input valid?"]
    assert invalid["Choices"][0]["Next"] == "Validate input failed"
    rules = invalid["Choices"][0]["Or"]
    settings = "$.prepare.merged.settings"
    # raw data only from the raw prefix (the Glue role reads nothing else)
    assert {"Not": {"Variable": f"{settings}.raw_s3_uri", "StringMatches": f"{defaults['raw_s3_uri']}*"}} in rules
    # endpoints the role may touch: the configured one or <project>-*; no characters SageMaker names cannot have
    endpoint = f"{settings}.endpoint_name"
    assert {
        "And": [
            {"Not": {"Variable": endpoint, "StringEquals": CONFIG.endpoint.name}},
            {"Not": {"Variable": endpoint, "StringMatches": f"{CONFIG.project_name}-*"}},
        ]
    } in rules
    for pattern in ("*_*", "*.*", "*/*", "* *", "*-"):
        assert {"Variable": endpoint, "StringMatches": pattern} in rules
    # the recipe: a string naming one of the recipes
    recipe = f"{settings}.recipe"
    assert {"Not": {"Variable": recipe, "IsString": True}} in rules
    assert {"And": [{"Not": {"Variable": recipe, "StringEquals": name}} for name in ("linear", "transformer")]} in rules


# --- error handling -----------------------------------------------------------------------------------------------


def test_every_task_retries_transient_errors_and_catches_everything(definition):
    transient = {error for families in TRANSIENT_ERRORS.values() for errors in families for error in errors}
    tasks = dict(task_states(definition))
    assert len(tasks) >= 15
    for name, state in tasks.items():
        retries = state.get("Retry", [])
        assert retries, f"{name}: no Retry"
        first = retries[0]
        assert set(first["ErrorEquals"]) <= transient, name
        assert first["BackoffRate"] > 1 and first["JitterStrategy"] == "FULL" and first["MaxAttempts"] >= 3, name
        catches = state.get("Catch", [])
        assert catches and catches[-1]["ErrorEquals"] == ["States.ALL"], f"{name}: no catch-all"


def test_retries_use_the_error_names_step_functions_reports(definition):
    """Optimized SageMaker tasks report SDK v1 names, aws-sdk tasks SDK v2 names (throttling is unmodeled)."""
    for name, state in task_states(definition):
        errors = {e for r in state["Retry"] for e in r["ErrorEquals"]}
        resource = state["Resource"]
        if ":states:::sagemaker:" in resource:
            assert "SageMaker.AmazonSageMakerException" in errors, name
        elif ":aws-sdk:sagemaker:" in resource:
            assert "SageMaker.SageMakerException" in errors, name
        elif ":aws-sdk:sagemakerruntime:" in resource:
            assert "SageMakerRuntime.SageMakerRuntimeException" in errors, name
        assert not any(e.endswith(".ThrottlingException") and e.startswith("SageMaker") for e in errors), name
    lookup = all_states(definition)["Look up live endpoint"]["Retry"]
    assert lookup[0]["ErrorEquals"] == ["SageMaker.SageMakerException"] and lookup[0]["MaxAttempts"] == 3


def follow(definition: dict, start: str, limit: int = 10) -> list[str]:
    """The state names reached from ``start`` by following Next (and a Choice's Default)."""
    path, name = [start], start
    while len(path) < limit:
        state = all_states(definition)[name]
        name = state.get("Next") or state.get("Default")
        if name is None:
            break
        path.append(name)
    return path


def test_catch_all_path_describes_notifies_and_fails(definition):
    failing = all_states(definition)["Run failed"]
    assert failing["Type"] == "Fail"
    assert failing["ErrorPath"] == "$.failure.error" and failing["CausePath"] == "$.failure.message"
    notify = all_states(definition)["Notify failure"]
    assert notify["Resource"].endswith(":sns:publish") and notify["Parameters"]["Message.$"] == "$.failure.message"
    for name, state in task_states(definition):
        catch_all = state["Catch"][-1]
        path = follow(definition, catch_all["Next"])
        if name in EVALUATION_TASKS:  # never fatal: reported in the evaluation notice, the run goes on to the gate
            assert path[0] in ("Evaluation unavailable", "Evaluation notice skipped"), (name, path)
            assert "Look up live endpoint" in path[:3], (name, path)
            continue
        if name in ("Notify failure", "Describe failed training job"):
            # The notification's own failure ends the run; describing a failed training job is part of the
            # training step's failure report: if it fails, the training failure already recorded is notified.
            assert path == (["Run failed"] if name == "Notify failure" else ["Notify failure", "Run failed"]), path
            continue
        assert path[-2:] == ["Notify failure", "Run failed"], (name, path)
        describe = all_states(definition)[catch_all["Next"]]["Parameters"]
        if name == "Restore previous model":
            assert "also failed" in describe["message.$"]
            continue
        assert path[0] == f"{name} failed", name
        assert describe["message.$"].startswith("States.Format('{} failed: {}: {}'"), name
        assert describe["step"] == name


def test_failures_never_re_raise_reserved_error_names(definition):
    """``States.*`` error names are reserved: every failure record carries a custom error name."""
    for name, state in definition["States"].items():
        if state["Type"] == "Pass" and state.get("ResultPath") == "$.failure":
            parameters = state["Parameters"]
            if "error" in parameters:
                assert re.fullmatch(r"[A-Z][A-Za-z]+", parameters["error"]), name
            elif name == "Relay training failure":  # the training branch's Fail already carries the custom name
                assert parameters["error.$"] == "$.error.Error", name
            else:
                assert parameters["error.$"] == "$.failure.error", name  # keeps an already custom name
    assert all_states(definition)["Clean reviews failed"]["Parameters"]["error"] == "CleanReviewsFailed"


def test_smoke_test_failure_after_an_update_restores_the_previous_model(definition):
    choice = all_states(definition)["Previous model to restore?"]
    assert choice["Choices"] == [{"Variable": "$.live.exists", "BooleanEquals": True, "Next": "Restore previous model"}]
    assert choice["Default"] == "Notify failure"
    restore = all_states(definition)["Restore previous model"]
    assert restore["Parameters"]["EndpointConfigName.$"] == "$.live.config"
    entering = {n for n, s in definition["States"].items() if s.get("Next") == "Previous model to restore?"}
    assert entering == {"Smoke test endpoint failed", "Smoke test answer invalid"}


def test_notifications_go_to_the_kms_topic_only(pipeline, definition):
    ((topic_id, topic),) = resources_of(pipeline, "AWS::SNS::Topic").items()
    assert "KmsMasterKeyId" in topic["Properties"]
    publish = [s for s in statements_of(pipeline, "Pipeline/Policy") if "sns:Publish" in as_list(s["Action"])]
    assert publish == [{"Action": "sns:Publish", "Effect": "Allow", "Resource": {"Ref": topic_id}, "Sid": "Notify"}]
    topics = {s["Parameters"]["TopicArn"] for _, s in task_states(definition) if s["Resource"].endswith("sns:publish")}
    assert len(topics) == 1


def test_executions_that_time_out_or_are_aborted_are_notified_on_the_topic(pipeline):
    """No Catch sees a TIMED_OUT or ABORTED execution; an EventBridge rule on its status change notifies instead."""
    (rule,) = rules_on(pipeline, "aws.states")
    ((machine_id, _),) = resources_of(pipeline, STATE_MACHINE).items()
    ((topic_id, _),) = resources_of(pipeline, "AWS::SNS::Topic").items()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert pattern["detail"] == {"stateMachineArn": [{"Ref": machine_id}], "status": ["TIMED_OUT", "ABORTED"]}
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": topic_id}
    transformer = target["InputTransformer"]
    paths = {value: f"<{name}>" for name, value in transformer["InputPathsMap"].items()}
    for path in ("$.detail.name", "$.detail.status", "$.detail.executionArn"):
        assert paths[path] in transformer["InputTemplate"], path


def test_the_notice_publishes_through_its_own_least_privilege_role(pipeline):
    """No resource policy trusts events.amazonaws.com; a role of this account may publish on the topic only."""
    (rule,) = rules_on(pipeline, "aws.states")
    ((topic_id, _),) = resources_of(pipeline, "AWS::SNS::Topic").items()
    (target,) = rule["Properties"]["Targets"]
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    role = pipeline["Resources"][role_id]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    policies = [p for p in resources_of(pipeline, "AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert {s["Sid"]: sorted(as_list(s["Action"])) for s in statements} == {
        "Notify": ["sns:Publish"],
        "EncryptNotifications": ["kms:Decrypt", "kms:GenerateDataKey"],
    }
    assert next(s for s in statements if s["Sid"] == "Notify")["Resource"] == {"Ref": topic_id}
    assert "DataKey" in json.dumps(next(s for s in statements if s["Sid"] == "EncryptNotifications")["Resource"])
    (topic_policy,) = resources_of(pipeline, "AWS::SNS::TopicPolicy").values()
    assert "events.amazonaws.com" not in json.dumps(topic_policy)


def test_email_subscription_only_when_configured(pipeline, variant):
    assert resources_of(pipeline, "AWS::SNS::Subscription") == {}
    (subscription,) = resources_of(variant[0][PIPELINE_STACK_ID], "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "oncall@example.com"


# --- state machine resource -----------------------------------------------------------------------------------------


def test_state_machine_logs_everything_encrypted_and_traces(pipeline):
    (machine,) = resources_of(pipeline, STATE_MACHINE).values()
    properties = machine["Properties"]
    assert properties["StateMachineType"] == "STANDARD"
    assert properties["TracingConfiguration"] == {"Enabled": True}
    logging = properties["LoggingConfiguration"]
    assert logging["Level"] == "ALL" and logging["IncludeExecutionData"] is True
    (log_group,) = [g for k, g in resources_of(pipeline, "AWS::Logs::LogGroup").items() if k.startswith("PipelineLogs")]
    assert "KmsKeyId" in log_group["Properties"] and log_group["Properties"]["RetentionInDays"] > 0
    assert "TimeoutSeconds" in json.dumps(properties["DefinitionString"])


def test_state_machine_is_deleted_before_the_teardown_runs(pipeline):
    (machine,) = resources_of(pipeline, STATE_MACHINE).values()
    teardown = [k for k, v in pipeline["Resources"].items() if v["Type"] == "Custom::TeardownSageMakerResources"]
    assert teardown and set(teardown) <= set(machine.get("DependsOn", []))


# --- IAM ---------------------------------------------------------------------------------------------------------


def resource_strings(statement: dict) -> list[str]:
    return [json.dumps(r) if not isinstance(r, str) else r for r in as_list(statement["Resource"])]


def test_state_machine_role_is_scoped_to_this_pipeline(pipeline):
    statements = statements_of(pipeline, "Pipeline/Policy")
    prefix = f"{CONFIG.project_name}-"
    for statement in statements:
        actions = as_list(statement["Action"])
        assert all("*" not in a for a in actions), statement
        sagemaker = [a for a in actions if a.startswith("sagemaker:")]
        if sagemaker:
            for resource in resource_strings(statement):
                assert f"/{prefix}" in resource or f"/{CONFIG.endpoint.name}" in resource, (statement["Sid"], resource)
        if statement["Resource"] == "*":
            assert all(a.startswith(("logs:", "xray:")) for a in actions), statement
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["PassSageMakerRoles"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    assert sorted(by_sid["RunCleaningJob"]["Action"]) == [
        "glue:BatchStopJobRun",
        "glue:GetJobRun",
        "glue:GetJobRuns",
        "glue:StartJobRun",
    ]
    # the L2 tasks' own broader statements are not attached: the role is immutable for them
    assert not [s for s in statements if s["Resource"] == "*" and "sagemaker:ListTags" in as_list(s["Action"])]


def test_glue_role_reads_raw_prefix_and_writes_curated_prefixes_only(pipeline):
    statements = {s["Sid"]: s for s in statements_of(pipeline, "Cleaning/Role")}
    read_raw = resource_strings(statements["ReadRaw"])
    assert len(read_raw) == 1 and f"/{CONFIG.raw_prefix}*" in read_raw[0]
    assert statements["ReadRaw"]["Action"] == "s3:GetObject"
    written = " ".join(resource_strings(statements["WriteCurated"]))
    for prefix in ("curated/*", "tables/*", "quarantine/*", "reports/*"):
        assert prefix in written
    assert "Artifacts" not in written and "Raw" not in written
    assert statements["ListRaw"]["Condition"] == {"StringLike": {"s3:prefix": [f"{CONFIG.raw_prefix}*"]}}
    for statement in statements.values():
        assert all("*" not in a for a in as_list(statement["Action"])), statement
        if statement["Resource"] == "*":
            assert statement["Action"] == "cloudwatch:PutMetricData" and statement["Condition"], statement


def test_sagemaker_roles_read_and_write_only_their_prefixes(pipeline):
    training = {s["Sid"]: s for s in statements_of(pipeline, "Pipeline/Training/ExecutionRole")}
    assert "curated/*" in resource_strings(training["ReadCuratedSplits"])[0]
    assert "models/*" in resource_strings(training["WriteModels"])[0]
    assert training["ReadCode"]["Action"] == "s3:GetObject"
    # The code channel is an S3Prefix on the asset's key: ListBucket for exactly that key.
    assert training["ListCode"]["Action"] == "s3:ListBucket"
    (listed_key,) = training["ListCode"]["Condition"]["StringEquals"]["s3:prefix"]
    assert re.fullmatch(r"[0-9a-f]{64}\.gz", listed_key) and listed_key in resource_strings(training["ReadCode"])[0]
    assert training["GrantDataKeyToSageMaker"]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert "SklearnImageAccounts" in resource_strings(training["PullScikitLearnImage"])[0]
    model = {s["Sid"]: s for s in statements_of(pipeline, "Pipeline/ModelRole")}
    assert "models/*" in resource_strings(model["ReadModels"])[0]
    assert sorted(model["DecryptModels"]["Action"]) == ["kms:Decrypt", "kms:DescribeKey"]
    assert "ReadCode" not in model  # the inference code ships inside model.tar.gz
    for statement in [*training.values(), *model.values()]:
        assert all("*" not in a for a in as_list(statement["Action"])), statement
        if statement["Resource"] == "*":
            assert as_list(statement["Action"])[0] in ("ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"), (
                statement
            )


def test_the_transformer_role_reads_the_staged_weights_and_syncs_only_run_checkpoints(pipeline):
    role = {s["Sid"]: s for s in statements_of(pipeline, "Pipeline/TransformerTraining/ExecutionRole")}
    assert "pretrained/*" in resource_strings(role["ReadPretrainedWeights"])[0]
    assert role["ReadPretrainedWeights"]["Action"] == "s3:GetObject"
    assert "models/*" in resource_strings(role["WriteModelsAndCheckpoints"])[0]
    assert role["ListPretrainedAndCheckpoints"]["Condition"] == {
        "StringLike": {"s3:prefix": ["pretrained/*", "models/*"]}}
    assert "DlcImageAccounts" in resource_strings(role["PullTrainingImage"])[0]
    assert "huggingface-pytorch-training" in resource_strings(role["PullTrainingImage"])[0]
    model = {s["Sid"]: s for s in statements_of(pipeline, "Pipeline/ModelRole")}
    assert "huggingface-pytorch-inference" in resource_strings(model["PullTransformerServingImage"])[0]
    for statement in role.values():
        assert all("*" not in a for a in as_list(statement["Action"])), statement


# --- Glue job ------------------------------------------------------------------------------------------------------


def test_glue_job_configuration(pipeline):
    (job,) = resources_of(pipeline, "AWS::Glue::Job").values()
    properties = job["Properties"]
    assert properties["GlueVersion"] == CONFIG.glue.glue_version
    assert properties["WorkerType"] == CONFIG.glue.worker_type
    assert properties["NumberOfWorkers"] == CONFIG.glue.number_of_workers
    assert properties["Timeout"] == CONFIG.glue.timeout_minutes
    assert properties["MaxRetries"] == CONFIG.glue.max_retries
    arguments = properties["DefaultArguments"]
    for name, value in CONFIG.data_quality.as_job_arguments().items():
        assert arguments[name] == value
    assert arguments["--job-bookmark-option"] == "job-bookmark-disable"
    assert arguments["--enable-continuous-cloudwatch-log"] == "true"
    assert arguments["--enable-metrics"] == ""
    assert "--curated_uri" in arguments and "--extra-py-files" in arguments
    (security,) = resources_of(pipeline, "AWS::Glue::SecurityConfiguration").values()
    encryption = security["Properties"]["EncryptionConfiguration"]
    assert encryption["CloudWatchEncryption"]["CloudWatchEncryptionMode"] == "SSE-KMS"
    assert encryption["JobBookmarksEncryption"]["JobBookmarksEncryptionMode"] == "CSE-KMS"
    assert encryption["S3Encryptions"][0]["S3EncryptionMode"] == "SSE-KMS"
    assert properties["SecurityConfiguration"] == {
        "Ref": next(iter(resources_of(pipeline, "AWS::Glue::SecurityConfiguration")))
    }


def test_glue_job_code_is_the_entry_script_the_shared_modules_and_the_package_zip(pipeline):
    (job,) = resources_of(pipeline, "AWS::Glue::Job").values()
    script = json.dumps(job["Properties"]["Command"]["ScriptLocation"])
    extra = json.dumps(job["Properties"]["DefaultArguments"]["--extra-py-files"])
    objects = re.findall(r"/([0-9a-f]{64}\.(?:py|zip))", extra)
    assert len(objects) == 3 and [o.rsplit(".", 1)[1] for o in objects] == ["py", "py", "zip"]
    assert extra.count(",s3://") == 2  # one comma-separated list, as --extra-py-files takes it
    (script_object,) = re.findall(r"/([0-9a-f]{64}\.py)", script)
    statements = {s["Sid"]: s for s in statements_of(pipeline, "Cleaning/Role")}
    assert statements["ReadCode"]["Action"] == "s3:GetObject"
    readable = re.findall(r"/([0-9a-f]{64}\.(?:py|zip))", json.dumps(statements["ReadCode"]["Resource"]))
    assert sorted(readable) == sorted([script_object, *objects])  # exactly these objects, nothing else


def test_glue_task_passes_the_run_arguments(definition):
    clean = all_states(definition)["Clean reviews"]
    assert clean["Resource"].endswith(":glue:startJobRun.sync")
    assert clean["Parameters"]["Arguments"] == {"--input_uri.$": "$.run.raw_s3_uri", "--run_id.$": "$.run.run_id"}


# --- trigger and outputs ---------------------------------------------------------------------------------------------


def rules_on(template: dict, source: str) -> list[dict]:
    return [
        r for r in resources_of(template, "AWS::Events::Rule").values() if r["Properties"]["EventPattern"]["source"] == [source]
    ]


def test_upload_trigger_only_with_the_flag(pipeline, variant):
    assert rules_on(pipeline, "aws.s3") == []
    (rule,) = rules_on(variant[0][PIPELINE_STACK_ID], "aws.s3")
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["object"]["key"] == [{"prefix": CONFIG.raw_prefix}]
    (target,) = rule["Properties"]["Targets"]
    assert "raw_s3_uri" in json.dumps(target["InputTransformer"])
    # the rule only fires if the raw bucket sends its events to EventBridge
    buckets = resources_of(variant[0]["DsOnAws-Data"], "AWS::S3::Bucket")
    raw = next(b for k, b in buckets.items() if k.startswith("RawBucket"))
    assert raw["Properties"]["NotificationConfiguration"]["EventBridgeConfiguration"] == {"EventBridgeEnabled": True}


def test_outputs_name_everything_a_user_needs(pipeline):
    outputs = pipeline["Outputs"]
    for name in (
        "StateMachineArn",
        "StateMachineName",
        "StateMachineConsoleUrl",
        "RawBucketName",
        "CuratedBucketName",
        "ArtifactsBucketName",
        "UploadCommand",
        "StartRunCommand",
        "NotificationTopicArn",
        "GlueJobName",
    ):
        assert name in outputs, name
    start = json.dumps(outputs["StartRunCommand"]["Value"])
    assert "aws stepfunctions start-execution --state-machine-arn " in start and "--input '{}'" in start
    assert json.dumps(outputs["UploadCommand"]["Value"]).startswith('{"Fn::Join": ["", ["aws s3 cp ')
    assert "console.aws.amazon.com/states/home" in json.dumps(outputs["StateMachineConsoleUrl"]["Value"])


def test_review_artifacts_are_written_beside_the_templates(assembly_dir, definition):
    asl = sorted((assembly_dir / "review").glob(f"{PIPELINE_STACK_ID}-*.asl.json"))
    mmd = sorted((assembly_dir / "review").glob(f"{PIPELINE_STACK_ID}-*.mmd"))
    assert len(asl) == 1 and len(mmd) == 1
    assert json.loads(asl[0].read_text()) == definition
    assert mmd[0].read_text().startswith("flowchart TD")


def test_intrinsic_templates_need_no_quote_escapes(definition):
    """Messages built with States.Format avoid ' and \\ in their templates (escapes trip some interpreters)."""
    text = json.dumps(definition)
    for template in re.findall(r"States\.Format\('((?:[^'\\]|\\.)*)'", text):
        assert "\\" not in template, template
