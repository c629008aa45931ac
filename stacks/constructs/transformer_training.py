"""The transformer recipe's training step: Hugging Face PyTorch training image, GPU, managed spot with checkpoints.

Same contract as the scikit-learn step (``stacks/constructs/training.py``: the job spec of
``ds_on_aws.sagemaker_jobs``, network isolation, the code as the ``code`` channel, the launcher that keeps the
failure reason, metric definitions), plus what fine-tuning needs:

* the pretrained weights as the ``pretrained`` channel (``$.transformer.pretrained_uri``, the staged
  ``pretrained/<model_name>/`` prefix of the artifacts bucket), since the isolated job cannot reach the hub;
* ``CheckpointConfig`` (``$.run.checkpoint_uri`` <-> ``/opt/ml/checkpoints``) with managed spot, so a job restarted
  after a spot interruption resumes from its last checkpoint; CDK's task has no property for it, so it is rendered
  into the state like spot and ``MaxWaitTimeInSeconds``;
* ``sagemaker_torch_distributed_enabled``: one process per GPU under ``torchrun`` (data parallel).

The image is resolved for the deployment region like the scikit-learn image (a region -> registry account mapping
from the SageMaker Python SDK's Deep Learning Containers configuration, ``stacks/data/dlc_image_accounts.json``).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from aws_cdk import Aws, CfnMapping, Duration, Fn, Size, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ds_on_aws.config import TransformerConfig
from ds_on_aws.packaging import TRANSFORMER_DIR
from ds_on_aws.sagemaker_jobs import PRETRAINED_PREFIX, checkpoint_config, transformer_training_job_spec
from stacks.constructs.policies import (
    SAGEMAKER_CONTAINER_APIS,
    allow,
    data_key_statements,
    image_pull_statements,
    log_statement,
    no_resource_type_finding,
    objects_finding,
    run_time_prefix_findings,
    service_log_group_finding,
)
from stacks.constructs.training import TrainingCode, _TrainingJobTask, metric_definitions
from stacks.state_machine.state import RUN, TRAINING_JOB, TRANSFORMER

DLC_ACCOUNTS_FILE = Path(__file__).resolve().parent.parent / "data" / "dlc_image_accounts.json"
DLC_MAPPING_ID = "DlcImageAccounts"
TRAINING_REPOSITORY = "huggingface-pytorch-training"
SERVING_REPOSITORY = "huggingface-pytorch-inference"


@cache
def dlc_accounts() -> dict[str, str]:
    return dict(sorted(json.loads(DLC_ACCOUNTS_FILE.read_text(encoding="utf-8"))["registries"].items()))


def dlc_account(scope: Construct) -> str:
    """The Deep Learning Containers registry account of the deployment region (``Fn::FindInMap``)."""
    stack = Stack.of(scope)
    mapping = stack.node.try_find_child(DLC_MAPPING_ID) or CfnMapping(
        stack, DLC_MAPPING_ID, mapping={region: {"account": account} for region, account in dlc_accounts().items()}
    )
    return mapping.find_in_map(Aws.REGION, "account")


def dlc_image_uri(scope: Construct, repository: str, tag: str) -> str:
    return Fn.join("", [dlc_account(scope), ".dkr.ecr.", Aws.REGION, ".", Aws.URL_SUFFIX, f"/{repository}:{tag}"])


def dlc_repository_arn(scope: Construct, repository: str) -> str:
    return Fn.join("", ["arn:", Aws.PARTITION, ":ecr:", Aws.REGION, ":", dlc_account(scope), f":repository/{repository}"])


def training_image_tag(config: TransformerConfig) -> str:
    return f"{config.framework_version}-gpu-{config.python_cuda}"


def serving_image_tag(config: TransformerConfig) -> str:
    """The CPU inference image (``<pytorch>-transformers<version>-cpu-<python>-<os>``)."""
    return f"{config.serving_version}-cpu-{config.serving_python}"


class _FineTuneTask(_TrainingJobTask):
    """The scikit-learn step's task rendering, with the recipe's hyperparameters and ``CheckpointConfig``."""

    hyperparameters_path = RUN.transformer_hyperparameters

    def to_state_json(self, *args, **kwargs):
        state = dict(super().to_state_json(*args, **kwargs))
        parameters = dict(state["Parameters"])
        parameters["CheckpointConfig"] = checkpoint_config(RUN.checkpoint_uri)
        state["Parameters"] = parameters
        return state


class TransformerTrainingStep(Construct):
    """Role, code asset and ``CreateTrainingJob`` task (RUN_JOB) of the transformer recipe.

    Reads ``$.run.names.training_job``, ``$.run.transformer_hyperparameters``, ``$.run.channels``,
    ``$.transformer.pretrained_uri``, ``$.run.checkpoint_uri``, ``$.run.model_output_uri``; writes the whole
    DescribeTrainingJob to ``$.training_job``, as the linear step does.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: TransformerConfig, key: kms.IKey,
                 curated_bucket: s3.IBucket, artifacts_bucket: s3.IBucket, tags: dict[str, str]) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.pretrained_root = f"s3://{artifacts_bucket.bucket_name}/{PRETRAINED_PREFIX}"
        self.code = TrainingCode(self, "Code", training_dir=TRANSFORMER_DIR)
        self.image_uri = dlc_image_uri(self, TRAINING_REPOSITORY, training_image_tag(config))
        self.serving_image_uri = dlc_image_uri(self, SERVING_REPOSITORY, serving_image_tag(config))
        self.serving_repository_arn = dlc_repository_arn(self, SERVING_REPOSITORY)
        self.role = self._role(key, curated_bucket, artifacts_bucket)
        self.spec = transformer_training_job_spec(
            code_uri=self.code.s3_uri,
            data_channels={"train": RUN.channels.train, "validation": RUN.channels.validation},
            pretrained_uri=TRANSFORMER.pretrained_uri,
        )
        self.task = _FineTuneTask(
            scope, "Fine-tune transformer", spot=config, spec=self.spec,
            comment="SageMaker training job (Hugging Face PyTorch, GPU, managed spot with checkpoints), run to completion.",
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            training_job_name=sfn.JsonPath.string_at(RUN.names.training_job),
            role=self.role.without_policy_updates(),
            algorithm_specification=tasks.AlgorithmSpecification(
                training_image=tasks.DockerImage.from_registry(self.image_uri),
                training_input_mode=tasks.InputMode.FILE, metric_definitions=metric_definitions()),
            output_data_config=tasks.OutputDataConfig(
                s3_output_location=tasks.S3Location.from_json_expression(RUN.model_output_uri), encryption_key=key),
            resource_config=tasks.ResourceConfig(
                instance_count=config.instance_count,
                instance_type=ec2.InstanceType(config.instance_type.removeprefix("ml.")),
                volume_size=Size.gibibytes(config.volume_size_gb), volume_encryption_key=key),
            stopping_condition=tasks.StoppingCondition(max_runtime=Duration.seconds(config.max_runtime_seconds)),
            tags=tags,
            result_path=TRAINING_JOB,
        )

    def _role(self, key: kms.IKey, curated: s3.IBucket, artifacts: s3.IBucket) -> iam.Role:
        """Read the splits, the code and the staged weights; read and write the run's checkpoints; write models/."""
        role = iam.Role(self, "ExecutionRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                        description="SageMaker training job of the review-sentiment pipeline (transformer recipe)")
        pretrained = f"{PRETRAINED_PREFIX}*"
        allow(role, [
            iam.PolicyStatement(sid="ReadCuratedSplits", actions=["s3:GetObject"],
                                resources=[curated.arn_for_objects("curated/*")]),
            iam.PolicyStatement(sid="ListCuratedSplits", actions=["s3:ListBucket"], resources=[curated.bucket_arn],
                                conditions={"StringLike": {"s3:prefix": ["curated/*"]}}),
            iam.PolicyStatement(sid="ReadPretrainedWeights", actions=["s3:GetObject"],
                                resources=[artifacts.arn_for_objects(pretrained)]),
            # models/<run_id>/: the model output and the checkpoints SageMaker syncs both ways.
            iam.PolicyStatement(sid="WriteModelsAndCheckpoints",
                                actions=["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                                resources=[artifacts.arn_for_objects("models/*")]),
            iam.PolicyStatement(sid="ListPretrainedAndCheckpoints", actions=["s3:ListBucket"],
                                resources=[artifacts.bucket_arn],
                                conditions={"StringLike": {"s3:prefix": [pretrained, "models/*"]}}),
        ], {**run_time_prefix_findings(curated, ["curated/*"]),
            **run_time_prefix_findings(artifacts, ["models/*"]),
            objects_finding(artifacts, pretrained): (
                "Pretrained weights are staged per model name (ds-on-aws stage-model) and the run's model_name "
                "hyperparameter picks one at run time; the role reads only the pretrained/ prefix")})
        allow(role, [*self.code.read_statements(), *data_key_statements(key)])
        allow(role, [log_statement(self, "/aws/sagemaker/TrainingJobs:*")],
              service_log_group_finding("/aws/sagemaker/TrainingJobs:*", "SageMaker training"))
        allow(role, image_pull_statements(dlc_repository_arn(self, TRAINING_REPOSITORY), sid="PullTrainingImage"),
              no_resource_type_finding(SAGEMAKER_CONTAINER_APIS))
        return role
