"""The scoring state machine: clean feedback -> Batch Transform with the live (or a named) model -> predictions table.

The definition is built by ``stacks.scoring.definition.scoring_definition`` from one fragment per stage (see
docs/scoring.md for the graph and every path). This construct owns what runs it: the publish job (a Glue Python
shell job running ``common/predictions_table.py``), the failure path, the state machine, its role (written
explicitly, with its cdk-nag acknowledgments) and log group, and what the model role needs to read and write a
scoring run's data (policies of the scoring stack attached to the training pipeline's roles). It reuses the training
pipeline's cleaning job (``--mode score``), notification topic and model role: a scoring run creates no model,
endpoint or endpoint config; its transform job is tagged with the stack tag.

Why a Glue Python shell job for the table and summary: it needs no Docker bundling (a Lambda with pyarrow would),
costs 1/16 DPU, and runs the very module the offline ``ds-on-aws score`` runs; Athena CTAS would need a staging
table over the transform output, a workgroup and a results bucket per run, and could not write the summary JSON.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from pipeline_contracts import PREDICTIONS_TABLE_PREFIX, REPORTS_PREFIX, SCORING_PREFIX

from ds_on_aws.config import PROJECT_ROOT, PipelineConfig
from stacks.constructs.glue_job import CleaningJob
from stacks.constructs.moderation import ModerationResources
from stacks.constructs.notifications import FailureHandler, Notifications
from stacks.constructs.policies import (
    allow,
    local_finding,
    log_group_arn,
    no_resource_type_finding,
    objects_finding,
    run_time_prefix_findings,
    service_log_group_finding,
    use_data_key_statement,
)
from stacks.nag import acknowledge
from stacks.scoring.definition import ScoringParts, scoring_definition
from stacks.scoring.moderate import moderation_enabled

PUBLISH_SCRIPT = PROJECT_ROOT / "common" / "predictions_table.py"
CONTRACTS_MODULE = PROJECT_ROOT / "common" / "pipeline_contracts.py"
TRANSFORM_RULE = "StepFunctionsGetEventsForSageMakerTransformJobsRule"
DPU = {0.0625: glue.MaxCapacity.DPU_1_16TH, 1.0: glue.MaxCapacity.DPU_1}


class ScoringStateMachine(Construct):
    """Publish job, scoring state machine, its role and log group, and the model role's scoring grants."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        key: kms.IKey,
        raw_bucket: s3.IBucket,
        curated_bucket: s3.IBucket,
        cleaning: CleaningJob,
        model_role: iam.IRole,
        database_name: str,
        name_prefix: str,
        endpoint_arn: str,
        notifications: Notifications,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config, self.key, self.curated = config, key, curated_bucket
        self.prefix = name_prefix.lower()
        self.endpoint_arn = endpoint_arn
        self.publish_job = self._publish_job()
        self.moderation = ModerationResources(
            self, "Moderation", config=config.moderation, key=key, raw_bucket=raw_bucket,
            curated_bucket=curated_bucket) if moderation_enabled(config) else None
        self.failures = FailureHandler(self, "Failures", notifications=notifications)
        definition = scoring_definition(
            self,
            ScoringParts(
                config=config,
                name_prefix=name_prefix,
                raw=raw_bucket,
                curated=curated_bucket,
                key=key,
                cleaning_job=cleaning.job,
                publish_job=self.publish_job,
                read_arns={
                    "endpoint": [endpoint_arn],
                    "endpoint-config": [self._sm_arn("endpoint-config", f"{self.prefix}*")],
                    "model": [self._sm_arn("model", f"{self.prefix}*")],
                },
                database_name=database_name,
                notifications=notifications,
                failures=self.failures,
                moderation_function=self.moderation.function if self.moderation else None,
            ),
        )
        self._state_machine(definition)
        self._grant(cleaning, notifications)
        self._grant_model_role(model_role)
        self._grant_cleaning_read(cleaning, raw_bucket)

    def _sm_arn(self, resource: str, name: str) -> str:
        return Stack.of(self).format_arn(service="sagemaker", resource=resource, resource_name=name)

    # --- the publish job ----------------------------------------------------------------------------------------

    def _publish_job(self) -> glue.PythonShellJob:
        """Glue Python shell (3.9, analytics library set: pyarrow, boto3) running ``predictions_table.py``."""
        script = s3_assets.Asset(self, "PublishScript", path=str(PUBLISH_SCRIPT))
        contracts = s3_assets.Asset(self, "PublishContracts", path=str(CONTRACTS_MODULE))
        self.publish_role = self._publish_role([script, contracts])
        job = glue.PythonShellJob(
            self,
            "PublishJob",
            job_name=f"{self.config.project_name}-publish-predictions",
            description="Joins Batch Transform predictions with review ids into the predictions table + summary",
            script=glue.Code.from_bucket(script.bucket, script.s3_object_key),
            extra_python_files=[glue.Code.from_bucket(contracts.bucket, contracts.s3_object_key)],
            python_version=glue.PythonVersion.THREE_NINE,
            library_set=glue.LibrarySet.ANALYTICS,
            max_capacity=DPU[self.config.scoring.publish_max_capacity],
            role=self.publish_role.without_policy_updates(),
            timeout=Duration.minutes(self.config.glue.timeout_minutes),
            max_retries=0,
            max_concurrent_runs=3,
            security_configuration=glue.SecurityConfiguration(
                self,
                "PublishSecurityConfiguration",
                cloud_watch_encryption=glue.CloudWatchEncryption.kms(self.key),
                job_bookmarks_encryption=glue.JobBookmarksEncryption.client_side_kms(self.key),
                s3_encryption=glue.S3Encryption.kms(self.key),
            ),
            default_arguments={
                "--curated_uri": f"s3://{self.curated.bucket_name}/",
                "--kms_key_arn": self.key.key_arn,
            },
        )
        return job

    def _publish_role(self, code: list[s3_assets.Asset]) -> iam.Role:
        """Read the transform output and duplicates, write the predictions partition and the summary."""
        role = iam.Role(
            self,
            "PublishRole",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="Glue Python shell job that publishes a scoring run's predictions table and summary",
        )
        read = [f"{SCORING_PREFIX}*", f"{REPORTS_PREFIX}*"]
        write = [f"{PREDICTIONS_TABLE_PREFIX}*", f"{REPORTS_PREFIX}*"]
        allow(
            role,
            [
                iam.PolicyStatement(sid="ReadScoringRun", actions=["s3:GetObject"],
                                    resources=[self.curated.arn_for_objects(p) for p in read]),
                iam.PolicyStatement(sid="ListScoringRun", actions=["s3:ListBucket"], resources=[self.curated.bucket_arn],
                                    conditions={"StringLike": {"s3:prefix": read}}),
                iam.PolicyStatement(sid="WritePredictions", actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                                    resources=[self.curated.arn_for_objects(p) for p in write]),
            ],
            run_time_prefix_findings(self.curated, sorted({*read, *write})),
        )
        allow(role, [
            iam.PolicyStatement(sid="ReadCode", actions=["s3:GetObject"],
                                resources=[a.bucket.arn_for_objects(a.s3_object_key) for a in code]),
            use_data_key_statement(self.key),
        ])
        allow(
            role,
            [iam.PolicyStatement(
                sid="GlueLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"],
                resources=[log_group_arn(self, "/aws-glue/*")],
            )],
            service_log_group_finding("/aws-glue/*", "Glue"),
        )
        return role

    # --- the state machine ----------------------------------------------------------------------------------------

    def _state_machine(self, definition: sfn.IChainable) -> None:
        self.log_group = logs.LogGroup(
            self, "Logs", encryption_key=self.key, retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="Step Functions state machine that scores customer feedback in bulk",
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=f"{self.config.project_name}-scoring",
            comment="Feedback scoring: Glue cleaning (score mode) -> SageMaker Batch Transform -> predictions table",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            role=self.role.without_policy_updates(),
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
            timeout=Duration.minutes(self.config.scoring.timeout_minutes),
        )

    def _grant(self, cleaning: CleaningJob, notifications: Notifications) -> None:
        """The state machine role's whole policy: its two jobs, its transform jobs, the model lookup, the summary."""
        stack = Stack.of(self)
        transform_jobs = self._sm_arn("transform-job", f"{self.prefix}*")
        statements = [
            iam.PolicyStatement(
                sid="RunScoringJobs",
                actions=["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"],
                resources=[cleaning.job_arn, self.publish_job.job_arn],
            ),
            iam.PolicyStatement(
                sid="RunTransformJob",
                actions=["sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob",
                         "sagemaker:AddTags", "sagemaker:ListTags"],
                resources=[transform_jobs],
            ),
            iam.PolicyStatement(
                sid="TransformJobCompletionEvents",
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[stack.format_arn(service="events", resource="rule", resource_name=TRANSFORM_RULE)],
            ),
            iam.PolicyStatement(
                sid="FindModel",
                actions=["sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"],
                resources=[self.endpoint_arn, self._sm_arn("endpoint-config", f"{self.prefix}*"),
                           self._sm_arn("model", f"{self.prefix}*")],
            ),
            iam.PolicyStatement(sid="ReadSummary", actions=["s3:GetObject"],
                                resources=[self.curated.arn_for_objects(f"{REPORTS_PREFIX}*")]),
            iam.PolicyStatement(sid="Notify", actions=["sns:Publish"], resources=[notifications.topic.topic_arn]),
            iam.PolicyStatement(sid="UseDataKey", actions=["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"],
                                resources=[self.key.key_arn]),
            iam.PolicyStatement(sid="EncryptTransformVolumes", actions=["kms:CreateGrant"], resources=[self.key.key_arn],
                                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}}),
            *_log_and_trace_statements(),
        ]
        if self.moderation is not None:
            statements.append(iam.PolicyStatement(sid="RunModeration", actions=["lambda:InvokeFunction"],
                                                  resources=[self.moderation.function.function_arn]))
        self.policy = iam.Policy(self, "Policy", statements=statements, roles=[self.role])
        self.state_machine.node.add_dependency(self.policy)
        for kind in ("transform-job", "endpoint-config", "model"):
            acknowledge(
                self.policy,
                local_finding(f"sagemaker:<AWS::Region>:<AWS::AccountId>:{kind}/{self.prefix}*"),
                f"SageMaker {kind} names are derived at run time (<project>-<hash of an execution ARN>), so only "
                f"the project prefix {self.prefix} is known at deploy time",
            )
        for rule_id, reason in {
            **run_time_prefix_findings(self.curated, [f"{REPORTS_PREFIX}*"]),
            **no_resource_type_finding("the CloudWatch Logs log-delivery APIs and the X-Ray trace APIs"),
        }.items():
            acknowledge(self.policy, rule_id, reason)

    def _grant_model_role(self, model_role: iam.IRole) -> None:
        """Batch Transform runs as the model's role: read the run's input, write its output, encrypt, log.

        A policy of this stack attached to the training pipeline's model role, so the grants live and go with scoring.
        """
        input_objects = f"{SCORING_PREFIX}*/input/*"
        output_objects = f"{SCORING_PREFIX}*/transform/*"
        policy = iam.Policy(self, "ModelRolePolicy", roles=[model_role], statements=[
            iam.PolicyStatement(sid="ReadScoringInput", actions=["s3:GetObject"],
                                resources=[self.curated.arn_for_objects(input_objects)]),
            iam.PolicyStatement(sid="ListScoringInput", actions=["s3:ListBucket"], resources=[self.curated.bucket_arn],
                                conditions={"StringLike": {"s3:prefix": [f"{SCORING_PREFIX}*"]}}),
            iam.PolicyStatement(sid="WriteTransformOutput", actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                                resources=[self.curated.arn_for_objects(output_objects)]),
            iam.PolicyStatement(sid="EncryptTransformOutput", actions=["kms:Encrypt", "kms:GenerateDataKey"],
                                resources=[self.key.key_arn]),
            iam.PolicyStatement(
                sid="TransformJobLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[log_group_arn(self, "/aws/sagemaker/TransformJobs:*")],
            ),
        ])
        for rule_id, reason in {
            **run_time_prefix_findings(self.curated, [input_objects, output_objects]),
            **service_log_group_finding("/aws/sagemaker/TransformJobs:*", "SageMaker Batch Transform"),
        }.items():
            acknowledge(policy, rule_id, reason)

    def _grant_cleaning_read(self, cleaning: CleaningJob, raw: s3.IBucket) -> None:
        """The cleaning job in score mode reads the feedback under the scoring prefix (a policy of this stack)."""
        prefix = self.config.scoring.input_prefix
        policy = iam.Policy(self, "CleaningReadsFeedback", roles=[cleaning.role], statements=[
            iam.PolicyStatement(sid="ReadFeedback", actions=["s3:GetObject"], resources=[raw.arn_for_objects(f"{prefix}*")]),
            iam.PolicyStatement(sid="ListFeedback", actions=["s3:ListBucket"], resources=[raw.bucket_arn],
                                conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}}),
        ])
        acknowledge(policy, objects_finding(raw, f"{prefix}*"),
                    f"Feedback to score is read from the scoring prefix {prefix}, whatever its file names")


def _log_and_trace_statements() -> list[iam.PolicyStatement]:
    return [
        iam.PolicyStatement(
            sid="DeliverExecutionLogs",
            actions=["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                     "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                     "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"],
            resources=["*"],  # CloudWatch Logs vended-log delivery APIs take no resource
        ),
        iam.PolicyStatement(
            sid="XRayTracing",
            actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                     "xray:GetSamplingTargets"],
            resources=["*"],  # X-Ray trace APIs take no resource
        ),
    ]
