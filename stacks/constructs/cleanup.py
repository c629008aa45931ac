"""``TeardownSageMakerResources``: on ``cdk destroy`` of the pipeline stack, remove what the pipeline's runs created.

Endpoints, endpoint configs and models are created by the state machine at run time, not by CloudFormation, so
deleting the stack alone would leave the endpoint billing. This custom resource's Lambda
(``cleanup_runtime/index.py``) deletes, on stack Delete only, the ones tagged ``ds-on-aws:stack`` = the stack name
whose names start with the project prefix.

Deletion order matters: CloudFormation deletes a resource only after everything that depends on it. The custom
resource depends on its function, which depends on its role (the policy is inline in the role, so it cannot be deleted
separately) and its log group: all of them still exist while the teardown runs. ``runs_after_deletion_of(x)`` makes
``x`` (e.g. the state machine) depend on the teardown, so ``x`` is deleted first and no new run can start an endpoint
behind the teardown's back.

IAM: the List* calls cannot be scoped (resource ``*``); every other action is limited to ARNs with the name prefix,
and the Delete* actions also require the stack tag on the resource.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct
from pipeline_contracts import STACK_TAG_KEY

from stacks.nag import acknowledge

RUNTIME_DIR = Path(__file__).resolve().parent / "cleanup_runtime"
# STACK_TAG_KEY (pipeline_contracts) is the key the state machine tags with; cleanup_runtime/index.py, the
# Lambda's own code, holds a copy (a test keeps the two equal).
RESOURCE_TYPE = "Custom::TeardownSageMakerResources"
LAMBDA_TIMEOUT = Duration.minutes(15)
# SageMaker resource kinds the teardown handles, as they appear in ARNs.
ARN_KINDS = ("endpoint", "endpoint-config", "model")


class TeardownSageMakerResources(Construct):
    """Deletes the tagged SageMaker endpoints, endpoint configs and models when the stack is deleted."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_tag: str,
        name_prefix: str,
        encryption_key: kms.IKey | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        stop_transform_jobs: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        if not name_prefix:
            raise ValueError("TeardownSageMakerResources: name_prefix must not be empty (it limits what is deleted)")
        stack = Stack.of(self)
        # SageMaker ARNs carry names in lower case.
        arn_prefix = name_prefix.lower()

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention,
            encryption_key=encryption_key,
            removal_policy=RemovalPolicy.DESTROY,
        )

        statements = self._statements(stack, arn_prefix, stack_tag)
        if stop_transform_jobs:
            statements += self._transform_statements(stack, arn_prefix, stack_tag)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Deletes this stack's tagged SageMaker endpoints, endpoint configs and models on stack deletion",
            # Inline (not a separate AWS::IAM::Policy): the permissions live exactly as long as the role.
            inline_policies={"Teardown": iam.PolicyDocument(statements=statements)},
        )
        self._acknowledge_findings(stack, arn_prefix, stop_transform_jobs)  # the findings of those statements
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="index.handler",
            code=lambda_.Code.from_asset(str(RUNTIME_DIR), exclude=["__pycache__", "*.pyc"]),
            timeout=LAMBDA_TIMEOUT,
            memory_size=256,
            role=self.role,
            log_group=self.log_group,
            description="ds-on-aws: removes the pipeline's SageMaker endpoints/configs/models on stack deletion",
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.function.function_arn,
            resource_type=RESOURCE_TYPE,
            properties={"StackTag": stack_tag, "NamePrefix": name_prefix,
                        **({"StopTransformJobs": "true"} if stop_transform_jobs else {})},
            # If the function never answers, CloudFormation gives up after this instead of the default hour.
            service_timeout=LAMBDA_TIMEOUT.plus(Duration.minutes(1)),
        )

    def runs_after_deletion_of(self, *constructs: IConstruct) -> None:
        """Make ``constructs`` depend on the teardown, so CloudFormation deletes them first and the teardown after."""
        for construct in constructs:
            construct.node.add_dependency(self.resource)

    def _statements(self, stack: Stack, arn_prefix: str, stack_tag: str) -> list[iam.PolicyStatement]:
        """List (no resource types), read by name prefix, delete only what carries this stack's tag; own logs."""

        def arns(*kinds: str) -> list[str]:
            return [
                stack.format_arn(service="sagemaker", resource=kind, resource_name=f"{arn_prefix}*") for kind in kinds
            ]

        return [
            iam.PolicyStatement(
                sid="ListSageMakerResources",
                actions=["sagemaker:ListEndpoints", "sagemaker:ListEndpointConfigs", "sagemaker:ListModels"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="ReadPipelineResources",
                actions=["sagemaker:ListTags", "sagemaker:DescribeEndpoint"],
                resources=arns(*ARN_KINDS),
            ),
            iam.PolicyStatement(
                sid="DeleteTaggedPipelineEndpoints",
                actions=["sagemaker:DeleteEndpoint"],
                resources=arns("endpoint"),
                conditions={"StringEquals": {f"aws:ResourceTag/{STACK_TAG_KEY}": stack_tag}},
            ),
            iam.PolicyStatement(
                sid="DeleteTaggedPipelineEndpointConfigs",
                actions=["sagemaker:DeleteEndpointConfig"],
                resources=arns("endpoint-config"),
                conditions={"StringEquals": {f"aws:ResourceTag/{STACK_TAG_KEY}": stack_tag}},
            ),
            iam.PolicyStatement(
                sid="DeleteTaggedPipelineModels",
                actions=["sagemaker:DeleteModel"],
                resources=arns("model"),
                conditions={"StringEquals": {f"aws:ResourceTag/{STACK_TAG_KEY}": stack_tag}},
            ),
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            ),
        ]

    @staticmethod
    def _transform_statements(stack: Stack, arn_prefix: str, stack_tag: str) -> list[iam.PolicyStatement]:
        """List running transform jobs (no resource type), read their tags, stop only this stack's."""
        jobs = stack.format_arn(service="sagemaker", resource="transform-job", resource_name=f"{arn_prefix}*")
        return [
            iam.PolicyStatement(sid="ListTransformJobs", actions=["sagemaker:ListTransformJobs"], resources=["*"]),
            iam.PolicyStatement(sid="ReadTransformJobTags", actions=["sagemaker:ListTags"], resources=[jobs]),
            iam.PolicyStatement(
                sid="StopTaggedTransformJobs",
                actions=["sagemaker:StopTransformJob"],
                resources=[jobs],
                conditions={"StringEquals": {f"aws:ResourceTag/{STACK_TAG_KEY}": stack_tag}},
            ),
        ]

    def _acknowledge_findings(self, stack: Stack, arn_prefix: str, stop_transform_jobs: bool = False) -> None:
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "sagemaker:ListEndpoints, ListEndpointConfigs and ListModels do not support resource-level permissions "
            "(the Service Authorization Reference lists no resource type for them), so they need Resource '*'. "
            "They only list names; every describe/tag/delete action is scoped to the project's name prefix."
            + (" sagemaker:ListTransformJobs likewise has no resource type; StopTransformJob is scoped to the prefix "
               "and the stack tag." if stop_transform_jobs else ""),
        )
        for kind in (*ARN_KINDS, *(("transform-job",) if stop_transform_jobs else ())):
            acknowledge(
                self.role,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:{kind}/{arn_prefix}*]",
                f"The {kind}s to remove are created at run time by the state machine with run-derived names, so only "
                f"the project name prefix is known at deploy time; Delete* also requires the tag {STACK_TAG_KEY} = "
                "this stack's name.",
            )
