"""The SageMaker training step: prebuilt scikit-learn container in script mode, run to completion.

The training code is shipped as ``sourcedir.tar.gz`` (SageMaker script mode wants a gzipped tarball; CDK directory
assets are zips), built deterministically at synth time by ``ds_on_aws.packaging.build_sourcedir_tarball`` and
uploaded as a file asset. The container image is resolved for the deployment region through a CloudFormation
mapping (region -> registry account), so the template stays account- and region-agnostic.
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import cache
from pathlib import Path

from aws_cdk import Aws, CfnMapping, Duration, Fn, Size, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ds_on_aws.config import PROJECT_ROOT, TrainingConfig
from ds_on_aws.packaging import build_sourcedir_tarball
from ds_on_aws.sagemaker_jobs import TrainingJobSpec, training_job_spec
from stacks.constructs.notifications import FailureHandler, error_name, transient_retries, vars_of
from stacks.constructs.policies import (
    SAGEMAKER_CONTAINER_APIS,
    allow,
    data_key_statements,
    image_pull_statements,
    log_statement,
    no_resource_type_finding,
    run_time_prefix_findings,
    service_log_group_finding,
)
from stacks.state_machine.state import (
    DESCRIBE_ERROR,
    FAILURE,
    RUN,
    TRAINING_FAILURE,
    TRAINING_JOB,
    answer,
)

IMAGE_ACCOUNTS_FILE = Path(__file__).resolve().parent.parent / "data" / "sklearn_image_accounts.json"
IMAGE_REPOSITORY = "sagemaker-scikit-learn"
MAPPING_ID = "SklearnImageAccounts"
SPLITS = ("train", "validation", "test")
METRICS = ("accuracy", "f1", "roc_auc")
SOURCEDIR_BUILD_DIR = PROJECT_ROOT / ".cache" / "sourcedir"


@cache
def image_accounts() -> dict[str, str]:
    """Region -> account of the prebuilt scikit-learn images (from the SageMaker Python SDK, see the data file)."""
    registries = json.loads(IMAGE_ACCOUNTS_FILE.read_text(encoding="utf-8"))["registries"]
    return dict(sorted(registries.items()))


def image_account_mapping(stack: Stack) -> CfnMapping:
    """The stack's one region -> image account mapping (created on first use)."""
    existing = stack.node.try_find_child(MAPPING_ID)
    if existing is not None:
        return existing  # type: ignore[return-value]
    return CfnMapping(
        stack,
        MAPPING_ID,
        mapping={region: {"account": account} for region, account in image_accounts().items()},
    )


def sklearn_image_account(scope: Construct) -> str:
    """The image registry account for the deployment region (``Fn::FindInMap`` on ``AWS::Region``)."""
    return image_account_mapping(Stack.of(scope)).find_in_map(Aws.REGION, "account")


def sklearn_image_uri(scope: Construct, framework_version: str) -> str:
    """``<account>.dkr.ecr.<region>.<url suffix>/sagemaker-scikit-learn:<version>-cpu-py3`` for the deployment region."""
    account = sklearn_image_account(scope)
    return Fn.join(
        "", [account, ".dkr.ecr.", Aws.REGION, ".", Aws.URL_SUFFIX, f"/{IMAGE_REPOSITORY}:{framework_version}-cpu-py3"]
    )


def sklearn_repository_arn(scope: Construct) -> str:
    """ARN of the prebuilt image repository in the deployment region's registry account."""
    account = sklearn_image_account(scope)
    return Fn.join("", ["arn:", Aws.PARTITION, ":ecr:", Aws.REGION, ":", account, f":repository/{IMAGE_REPOSITORY}"])


def metric_definitions() -> list[tasks.MetricDefinition]:
    """Parse the ``<split>:<metric>=<value>`` lines the training script prints."""
    return [
        tasks.MetricDefinition(name=f"{split}:{metric}", regex=f"{split}:{metric}=([0-9.]+)")
        for split in SPLITS
        for metric in METRICS
    ]


def build_sourcedir(destination_dir: Path = SOURCEDIR_BUILD_DIR, training_dir: Path | None = None) -> Path:
    """Build ``sourcedir.tar.gz`` atomically (parallel synths in tests may race) and return its path.

    The bytes depend only on the code, so the asset hash changes only when the code does. ``training_dir``: a
    recipe folder (``training/<recipe>/``) instead of ``training/``.
    """
    destination_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="sourcedir-", suffix=".tar.gz", dir=destination_dir)
    os.close(fd)
    try:
        build_sourcedir_tarball(Path(tmp), *([training_dir] if training_dir else []))
        final = destination_dir / "sourcedir.tar.gz"
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return final


def _training_logs_where(job: str) -> str:
    """Where the job's logs are: the log group, its streams and a console link (a States.Format intrinsic)."""
    return sfn.JsonPath.format(
        "Log: CloudWatch log group /aws/sagemaker/TrainingJobs, streams {}/algo-*"
        " (https://{}.console.aws.amazon.com/cloudwatch/home?region={}#logsV2:log-groups/log-group/"
        "$252Faws$252Fsagemaker$252FTrainingJobs$3FlogStreamNameFilter$3D{})",
        job, Aws.REGION, Aws.REGION, job,
    )


class _TrainingJobTask(tasks.SageMakerCreateTrainingJob):
    """``SageMakerCreateTrainingJob`` plus what its props cannot express, rendered from the job's spec.

    * ``InputDataConfig``, ``EnableNetworkIsolation`` and ``AlgorithmSpecification.ContainerEntrypoint`` from the
      :class:`~ds_on_aws.sagemaker_jobs.TrainingJobSpec` (the one builder the offline runner executes too): the
      data channels, the ``code`` channel of an isolated job, and the launcher that keeps the failure reason.
    * ``HyperParameters`` from the state (``$.run.hyperparameters``: config defaults, execution input and the
      script-mode keys merged in the Prepare step); the L2 accepts only a static map.
    * Managed spot training (``EnableManagedSpotTraining`` and ``StoppingCondition.MaxWaitTimeInSeconds``), which
      the L2 does not model at all.

    ``to_state_json`` is a jsii override: the state machine calls it when it renders the definition.
    """

    hyperparameters_path = RUN.hyperparameters

    def __init__(
        self, scope: Construct, construct_id: str, *, spot: TrainingConfig, spec: TrainingJobSpec, **kwargs
    ) -> None:
        self._spot = spot
        self._spec = spec
        super().__init__(scope, construct_id, **kwargs)

    def to_state_json(self, *args, **kwargs):
        state = dict(super().to_state_json(*args, **kwargs))
        parameters = dict(state.get("Parameters", {}))
        parameters.pop("HyperParameters", None)
        parameters["HyperParameters.$"] = self.hyperparameters_path
        parameters["InputDataConfig"] = self._spec.input_data_config()
        parameters["EnableNetworkIsolation"] = self._spec.network_isolation
        algorithm = dict(parameters.get("AlgorithmSpecification", {}))
        algorithm["ContainerEntrypoint"] = list(self._spec.container_entrypoint)
        parameters["AlgorithmSpecification"] = algorithm
        if self._spot.use_spot:
            parameters["EnableManagedSpotTraining"] = True
            stopping = dict(parameters.get("StoppingCondition", {}))
            stopping["MaxWaitTimeInSeconds"] = self._spot.max_wait_seconds
            parameters["StoppingCondition"] = stopping
        state["Parameters"] = parameters
        return state


class TrainingCode(Construct):
    """The ``sourcedir.tar.gz`` file asset of the training code (``s3_uri``).

    A network-isolated training job reads it as its ``code`` input channel: an S3Prefix channel needs
    ``s3:ListBucket`` on the prefix besides ``s3:GetObject``, so :meth:`read_statements` grants both on exactly
    this object.
    """

    def __init__(self, scope: Construct, construct_id: str, *, training_dir: Path | None = None) -> None:
        super().__init__(scope, construct_id)
        build_dir = SOURCEDIR_BUILD_DIR / training_dir.name if training_dir else SOURCEDIR_BUILD_DIR
        self.asset = s3_assets.Asset(self, "Sourcedir", path=str(build_sourcedir(build_dir, training_dir)))
        self.s3_uri: str = self.asset.s3_object_url

    def read_statements(self) -> list[iam.PolicyStatement]:
        """GetObject on this object and ListBucket for its key only (``Asset.grant_read`` grants Get*/List*)."""
        return [
            iam.PolicyStatement(
                sid="ReadCode",
                actions=["s3:GetObject"],
                resources=[self.asset.bucket.arn_for_objects(self.asset.s3_object_key)],
            ),
            iam.PolicyStatement(
                sid="ListCode",
                actions=["s3:ListBucket"],
                resources=[self.asset.bucket.bucket_arn],
                conditions={"StringEquals": {"s3:prefix": [self.asset.s3_object_key]}},
            ),
        ]


class TrainingStep(Construct):
    """Role and ``SageMakerCreateTrainingJob`` task (RUN_JOB) of one pipeline run.

    The task reads from the state: ``$.run.names.training_job``, ``$.run.hyperparameters`` (already merged with the
    script-mode keys of :attr:`spec`), ``$.run.channels.{train,validation}`` and ``$.run.model_output_uri``; it
    writes the whole DescribeTrainingJob result to ``$.training_job``. The code arrives as the ``code`` channel
    (the job is network-isolated, see ``ds_on_aws.sagemaker_jobs``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: TrainingConfig,
        key: kms.IKey,
        curated_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        code: TrainingCode,
        tags: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.image_uri = sklearn_image_uri(self, config.framework_version)
        self.role = self._role(key, curated_bucket, artifacts_bucket, code)
        self.spec = training_job_spec(
            code_uri=code.s3_uri,
            data_channels={"train": RUN.channels.train, "validation": RUN.channels.validation},
            network_isolation=True,
        )
        self.task = _TrainingJobTask(
            scope,
            "Train model",
            spot=config,
            spec=self.spec,
            comment="SageMaker training job (scikit-learn container, script mode, managed spot), run to completion.",
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            training_job_name=sfn.JsonPath.string_at(RUN.names.training_job),
            # An immutable view: the L2 otherwise grants s3:GetObject/ListBucket on "*" for JSONPath locations.
            role=self.role.without_policy_updates(),
            algorithm_specification=tasks.AlgorithmSpecification(
                training_image=tasks.DockerImage.from_registry(self.image_uri),
                training_input_mode=tasks.InputMode.FILE,
                metric_definitions=metric_definitions(),
            ),
            output_data_config=tasks.OutputDataConfig(
                s3_output_location=tasks.S3Location.from_json_expression(RUN.model_output_uri),
                encryption_key=key,
            ),
            resource_config=tasks.ResourceConfig(
                instance_count=config.instance_count,
                instance_type=ec2.InstanceType(config.instance_type.removeprefix("ml.")),  # the L2 adds "ml."
                volume_size=Size.gibibytes(config.volume_size_gb),
                volume_encryption_key=key,
            ),
            stopping_condition=tasks.StoppingCondition(max_runtime=Duration.seconds(config.max_runtime_seconds)),
            tags=tags,
            result_path=TRAINING_JOB,  # the whole DescribeTrainingJob (FinalMetricDataList is optional)
        )

    def failure_report(self, failures: FailureHandler, step: str = "Train model") -> sfn.IChainable:
        """After "<step> failed": describe the job and put its FailureReason and log location in the failure.

        The catch-all already recorded the generic failure (the ``.sync`` cause is the whole DescribeTrainingJob
        answer as a JSON string; reading it back with ``States.StringToJson`` would raise an uncatchable
        ``States.Runtime`` on a cause that is not JSON). So the job is described again by name (always known:
        ``$.run.names.training_job``) and the reason is read from that answer, with a Choice for a job that has
        none (stopped, or never created). If the description fails too, the generic record is notified as it is.
        """
        scope = self.task.node.scope
        job = sfn.JsonPath.string_at(RUN.names.training_job)
        # The step whose catch-all led here ("Train model" or "Fine-tune transformer"): both share this report.
        failed_step = sfn.JsonPath.string_at(FAILURE.step)
        logs_where = _training_logs_where(job)
        describe = tasks.CallAwsService(
            scope,
            "Describe failed training job",
            comment="Read the failed job's FailureReason for the notification and the execution's cause.",
            service="sagemaker",
            action="describeTrainingJob",
            parameters={"TrainingJobName": job},
            iam_resources=["*"],  # the state machine role is written explicitly; see PipelineStateMachine
            result_selector={
                "status": sfn.JsonPath.string_at(answer("TrainingJobStatus")),
                "described": sfn.JsonPath.entire_payload,
            },
            result_path=TRAINING_FAILURE,
        )
        for policy in transient_retries("sagemaker-sdk"):
            describe.add_retry(**vars_of(policy))
        # The job may not exist (CreateTrainingJob refused): keep the generic record made by "<step> failed".
        describe.add_catch(failures.entry, errors=["States.ALL"], result_path=DESCRIBE_ERROR)
        with_reason = failures.reject(
            failed_step,
            error=error_name(step),
            state_name="Training job failed",
            message=sfn.JsonPath.format(
                "{} failed: training job {} is {}: {} {}",
                failed_step,
                job,
                sfn.JsonPath.string_at(TRAINING_FAILURE.status),
                sfn.JsonPath.string_at(TRAINING_FAILURE.described.FailureReason),
                logs_where,
            ),
        )
        without_reason = failures.reject(
            failed_step,
            error=error_name(step),
            state_name="Training job ended without a reason",
            message=sfn.JsonPath.format(
                "{} failed: training job {} is {} (SageMaker gave no FailureReason) {}",
                failed_step,
                job,
                sfn.JsonPath.string_at(TRAINING_FAILURE.status),
                logs_where,
            ),
        )
        describe.next(
            sfn.Choice(scope, "Failure reason given?")
            .when(sfn.Condition.is_present(TRAINING_FAILURE.described.FailureReason), with_reason)
            .otherwise(without_reason)
        )
        return describe

    def _role(self, key: kms.IKey, curated: s3.IBucket, artifacts: s3.IBucket, code: TrainingCode) -> iam.Role:
        """Execution role: read curated splits and the code, write models/, use the key, write its logs, pull the image."""
        role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker training job of the review-sentiment pipeline",
        )
        allow(
            role,
            [
                iam.PolicyStatement(
                    sid="ReadCuratedSplits", actions=["s3:GetObject"], resources=[curated.arn_for_objects("curated/*")]
                ),
                iam.PolicyStatement(
                    sid="ListCuratedSplits",
                    actions=["s3:ListBucket"],
                    resources=[curated.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": ["curated/*"]}},
                ),
                iam.PolicyStatement(
                    sid="WriteModels",
                    actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                    resources=[artifacts.arn_for_objects("models/*")],
                ),
            ],
            {**run_time_prefix_findings(curated, ["curated/*"]), **run_time_prefix_findings(artifacts, ["models/*"])},
        )
        allow(role, [*code.read_statements(), *data_key_statements(key)])
        allow(
            role,
            [log_statement(self, "/aws/sagemaker/TrainingJobs:*")],
            service_log_group_finding("/aws/sagemaker/TrainingJobs:*", "SageMaker training"),
        )
        allow(role, image_pull_statements(sklearn_repository_arn(self)), no_resource_type_finding(SAGEMAKER_CONTAINER_APIS))
        return role
