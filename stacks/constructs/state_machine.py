"""The pipeline's Step Functions state machine (JSONPath query language), assembled from readable fragments.

The definition is built by ``stacks.state_machine.definition.pipeline_definition`` from one fragment per stage
(prepare run, clean, train, live-model lookup, model gate, create or update endpoint, wait for endpoint, smoke test
and restore, record, notify), chained in execution order; see docs/state-machine.md for the graph and every path.
This construct owns what runs it: the training step, the endpoint deployment, the failure path, the state machine,
its role (written explicitly, with its cdk-nag acknowledgments) and its log group.

Run id and names. The run id is the execution name (readable; it names the S3 prefixes ``curated/<run_id>/`` and
``models/<run_id>/`` and is tagged on every SageMaker resource). SageMaker names must match
``^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`` while execution names may have 80 characters, ``_`` and more, so the training
job, model and endpoint config are named ``<project_name>-<MD5 of the execution ARN>`` (project name + 33 characters):
always valid, and unique per execution of THIS state machine (the ARN includes the state machine, so two stacks in
one account never collide either).
"""

from __future__ import annotations

import re

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ds_on_aws.config import PipelineConfig
from stacks.constructs.baseline import BaselineResources
from stacks.constructs.deployment import EndpointDeployment
from stacks.constructs.notifications import FailureHandler, Notifications
from stacks.constructs.policies import local_finding, no_resource_type_finding
from stacks.constructs.training import TrainingCode, TrainingStep
from stacks.constructs.transformer_training import TransformerTrainingStep
from stacks.nag import acknowledge
from stacks.state_machine.definition import PipelineParts, pipeline_definition
from stacks.state_machine.prepare import EXECUTION_TAG_KEY, STACK_TAG_KEY  # noqa: F401 (STACK_TAG_KEY: importers)
from stacks.state_machine.state import SERVING

_NAME_PREFIX = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")


def sagemaker_name_prefix(project_name: str) -> str:
    """``<project_name>-``; refuses a project name that cannot start a valid SageMaker name."""
    if not _NAME_PREFIX.match(project_name) or len(project_name) > 29:
        raise ValueError(
            f"ds-on-aws.project_name {project_name!r}: must start and end with a letter or digit and have at most "
            "29 characters, so that '<project_name>-<32 hex characters>' is a valid SageMaker name"
        )
    return f"{project_name}-"


class PipelineStateMachine(Construct):
    """Builds the definition, the state machine, its role (explicit, least privilege) and its log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        key: kms.IKey,
        raw_bucket: s3.IBucket,
        curated_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        glue_job: glue.IJob,
        notifications: Notifications,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.config = config
        self.prefix = sagemaker_name_prefix(config.project_name)
        self.code = TrainingCode(self, "TrainingCode")
        self.failures = FailureHandler(self, "Failures", notifications=notifications)
        self.training = TrainingStep(
            self,
            "Training",
            config=config.training,
            key=key,
            curated_bucket=curated_bucket,
            artifacts_bucket=artifacts_bucket,
            code=self.code,
            tags={STACK_TAG_KEY: stack.stack_name, EXECUTION_TAG_KEY: sfn.JsonPath.execution_name},
        )
        self.transformer = TransformerTrainingStep(
            self,
            "TransformerTraining",
            config=config.transformer,
            key=key,
            curated_bucket=curated_bucket,
            artifacts_bucket=artifacts_bucket,
            tags={STACK_TAG_KEY: stack.stack_name, EXECUTION_TAG_KEY: sfn.JsonPath.execution_name},
        )
        self.deployment = EndpointDeployment(
            self,
            "Deployment",
            config=config.endpoint,
            key=key,
            image_uri=self.training.image_uri,
            artifacts_bucket=artifacts_bucket,
            name_prefix=self.prefix,
        )
        self.deployment.serve_images_from_state(SERVING.image, self.transformer.serving_repository_arn)
        self.endpoint_arns = self.deployment.endpoint_arns
        self.baseline = BaselineResources(
            self,
            "Baseline",
            config=config,
            key=key,
            curated_bucket=curated_bucket,
            artifacts_bucket=artifacts_bucket,
            glue_job=glue_job,
        )
        definition = pipeline_definition(
            self,
            PipelineParts(
                config=config,
                name_prefix=self.prefix,
                raw=raw_bucket,
                curated=curated_bucket,
                artifacts=artifacts_bucket,
                glue_job=glue_job,
                training=self.training,
                deployment=self.deployment,
                notifications=notifications,
                failures=self.failures,
                baseline=self.baseline,
                transformer=self.transformer,
            ),
        )
        self._state_machine(definition, key)
        self._grant(key, raw_bucket, glue_job, notifications)

    def _state_machine(self, definition: sfn.IChainable, key: kms.IKey) -> None:
        """The state machine (STANDARD, logs ALL to a KMS-encrypted group, X-Ray) with its explicitly written role."""
        config = self.config
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=key,
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="Step Functions state machine of the review-sentiment pipeline",
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=f"{config.project_name}-pipeline",
            comment="Review-sentiment pipeline: Glue cleaning -> SageMaker training -> model gate -> endpoint",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            # Explicit policy below: the L2 tasks' generated statements use "*" patterns this project narrows.
            role=self.role.without_policy_updates(),
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
            timeout=Duration.seconds(self._timeout_seconds()),
        )

    # --- permissions ------------------------------------------------------------------------------------------

    def _timeout_seconds(self) -> int:
        """Glue timeout + the longer recipe's training max wait + endpoint wait budget + one hour of slack."""
        c = self.config
        return (
            c.glue.timeout_minutes * 60
            + max(c.training.max_wait_seconds, c.baseline.max_wait_seconds, c.transformer.max_wait_seconds)  # side by side
            + c.endpoint.wait_seconds * c.endpoint.max_wait_attempts
            + 3600
        )

    def _grant(self, key: kms.IKey, raw: s3.IBucket, glue_job: glue.IJob, notifications: Notifications) -> None:
        """The state machine role's whole policy, scoped to this stack's job, name prefix, endpoint and topic."""
        prefix = self.prefix.lower()
        statements = [
            *self._run_statements(glue_job),
            *self._hosting_statements(),
            *self._service_statements(key, notifications),
            *self._baseline_statements(key),
        ]
        self.policy = iam.Policy(self, "Policy", statements=statements, roles=[self.role])
        self.state_machine.node.add_dependency(self.policy)
        # The findings of the statements above: SageMaker names derived from the execution (training-job, model,
        # endpoint-config and endpoint <prefix>*), and the two statements of APIs without resource types.
        for kind in ("training-job", "model", "endpoint-config", "endpoint"):
            acknowledge(
                self.policy,
                local_finding(f"sagemaker:<AWS::Region>:<AWS::AccountId>:{kind}/{prefix}*"),
                f"SageMaker {kind} names are derived from each execution at run time (<project>-<hash of the "
                f"execution ARN>), so only the project prefix {prefix} is known at deploy time",
            )
        for rule_id, reason in no_resource_type_finding(
            "the CloudWatch Logs log-delivery APIs and the X-Ray trace APIs"
        ).items():
            acknowledge(self.policy, rule_id, reason)
        acknowledge(
            self.policy,
            local_finding("comprehend:<AWS::Region>:<AWS::AccountId>:sentiment-detection-job/*"),
            "Comprehend names a sentiment detection job's ARN by the job id it generates when the job starts, so no "
            "narrower pattern exists at deploy time; StartSentimentDetectionJob is further limited to the data key "
            "for volume and output (comprehend:VolumeKmsKey, comprehend:OutputKmsKey)",
        )
        del raw  # the state machine never reads data itself

    def _sm_arn(self, resource: str, name: str) -> str:
        return Stack.of(self).format_arn(service="sagemaker", resource=resource, resource_name=name)

    def _run_statements(self, glue_job: glue.IJob) -> list[iam.PolicyStatement]:
        """Run the cleaning job and the training job (and the rule Step Functions uses to watch training jobs)."""
        stack = Stack.of(self)
        prefix = self.prefix.lower()
        return [
            iam.PolicyStatement(
                sid="RunCleaningJob",
                actions=["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"],
                resources=[glue_job.job_arn],
            ),
            iam.PolicyStatement(
                sid="RunTrainingJob",
                actions=["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"],
                resources=[self._sm_arn("training-job", f"{prefix}*")],
            ),
            iam.PolicyStatement(
                sid="TrainingJobCompletionEvents",
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    stack.format_arn(
                        service="events",
                        resource="rule",
                        resource_name="StepFunctionsGetEventsForSageMakerTrainingJobsRule",
                    )
                ],
            ),
        ]

    def _hosting_statements(self) -> list[iam.PolicyStatement]:
        """Create models and endpoint configs, deploy, watch, test, tag; pass the two SageMaker roles."""
        prefix = self.prefix.lower()
        return [
            iam.PolicyStatement(
                sid="CreateModelAndEndpointConfig",
                actions=["sagemaker:CreateModel", "sagemaker:CreateEndpointConfig"],
                resources=[self._sm_arn("model", f"{prefix}*"), self._sm_arn("endpoint-config", f"{prefix}*")],
            ),
            iam.PolicyStatement(
                sid="DeployEndpoint",
                actions=["sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"],
                resources=[*self.endpoint_arns, self._sm_arn("endpoint-config", f"{prefix}*")],
            ),
            iam.PolicyStatement(
                sid="WatchTestAndDeleteFailedEndpoint",
                actions=[
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:InvokeEndpoint",
                    "sagemaker:ListTags",
                    "sagemaker:DeleteEndpoint",
                ],
                resources=self.endpoint_arns,
            ),
            iam.PolicyStatement(
                sid="TagPipelineResources",
                # AddTags: Create* calls with Tags need it; ListTags: the AWS-documented policies of the optimized
                # SageMaker integrations include it (the L2 tasks grant it on "*"), here on our names only.
                actions=["sagemaker:AddTags", "sagemaker:ListTags"],
                resources=[
                    self._sm_arn("training-job", f"{prefix}*"),
                    self._sm_arn("model", f"{prefix}*"),
                    self._sm_arn("endpoint-config", f"{prefix}*"),
                    *self.endpoint_arns,
                ],
            ),
            iam.PolicyStatement(
                sid="PassSageMakerRoles",
                actions=["iam:PassRole"],
                resources=[self.training.role.role_arn, self.transformer.role.role_arn,
                           self.deployment.model_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
        ]

    def _baseline_statements(self, key: kms.IKey) -> list[iam.PolicyStatement]:
        """Invoke the baseline function; start (with the data key only), watch and stop Comprehend jobs; pass its role."""
        jobs = Stack.of(self).format_arn(service="comprehend", resource="sentiment-detection-job", resource_name="*")
        return [
            iam.PolicyStatement(sid="InvokeBaselineFunction", actions=["lambda:InvokeFunction"],
                                resources=[self.baseline.function.function_arn]),
            iam.PolicyStatement(
                sid="StartComprehendJobWithDataKey",
                actions=["comprehend:StartSentimentDetectionJob"],
                resources=[jobs],
                conditions={"StringEquals": {"comprehend:VolumeKmsKey": key.key_arn,
                                             "comprehend:OutputKmsKey": key.key_arn}},
            ),
            iam.PolicyStatement(
                sid="WatchAndTagComprehendJobs",
                actions=["comprehend:DescribeSentimentDetectionJob", "comprehend:StopSentimentDetectionJob",
                         "comprehend:TagResource"],
                resources=[jobs],
            ),
            iam.PolicyStatement(
                sid="PassComprehendRole",
                actions=["iam:PassRole"],
                resources=[self.baseline.comprehend_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "comprehend.amazonaws.com"}},
            ),
        ]

    def _service_statements(self, key: kms.IKey, notifications: Notifications) -> list[iam.PolicyStatement]:
        """Notify, use the key (topic, SageMaker volumes), deliver execution logs, trace."""
        return [
            iam.PolicyStatement(sid="Notify", actions=["sns:Publish"], resources=[notifications.topic.topic_arn]),
            iam.PolicyStatement(
                sid="EncryptNotifications",
                actions=["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"],
                resources=[key.key_arn],
            ),
            iam.PolicyStatement(
                sid="EncryptSageMakerVolumes",
                actions=["kms:CreateGrant"],
                resources=[key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
            iam.PolicyStatement(
                sid="DeliverExecutionLogs",
                actions=[
                    "logs:CreateLogDelivery",
                    "logs:GetLogDelivery",
                    "logs:UpdateLogDelivery",
                    "logs:DeleteLogDelivery",
                    "logs:ListLogDeliveries",
                    "logs:PutResourcePolicy",
                    "logs:DescribeResourcePolicies",
                    "logs:DescribeLogGroups",
                ],
                resources=["*"],  # CloudWatch Logs vended-log delivery APIs take no resource
            ),
            iam.PolicyStatement(
                sid="XRayTracing",
                actions=[
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                ],
                resources=["*"],  # X-Ray trace APIs take no resource
            ),
        ]
