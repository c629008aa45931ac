"""The pipeline's Step Functions state machine (JSONPath query language), assembled from readable fragments.

Flow (see docs/state-machine.md for the graph and every path):

    Validate input -> Load defaults -> Merge input over defaults -> Derive run names
    -> Clean reviews (Glue, run to completion) -> Train model (SageMaker, run to completion)
    -> Read validation accuracy -> Look up live endpoint (+ its recorded accuracy)
    -> Model-quality gate -> [deploy?] -> hosting fragment (deployment.py) -> Succeed

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
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ds_on_aws.config import PipelineConfig
from stacks.constructs.deployment import ACCURACY_TAG, EndpointDeployment
from stacks.constructs.notifications import FailureHandler, Notifications, transient_retries, vars_of
from stacks.constructs.policies import local_finding, no_resource_type_finding
from stacks.constructs.training import TrainingCode, TrainingStep
from stacks.nag import acknowledge
from stacks.state_machine.state import (
    EXECUTION_ID,
    EXECUTION_INPUT,
    GATE,
    GLUE,
    LIVE,
    LIVE_ERROR,
    LIVE_TAGS,
    PREPARE,
    REJECTION,
    RUN,
    TRAINING,
    TRAINING_JOB,
    VALIDATION_ACCURACY_VALUES,
    Settings,
    answer,
    first,
    tag_values,
)

STACK_TAG_KEY = "ds-on-aws:stack"
EXECUTION_TAG_KEY = "ds-on-aws:execution"
NOT_FOUND_ERRORS = (
    "SageMaker.AmazonSageMakerException",
    "SageMaker.ValidationException",
    "SageMaker.SageMakerException",
)
NOT_FOUND_CAUSE = "*Could not find endpoint*"


_NAME_PREFIX = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")


def sagemaker_name_prefix(project_name: str) -> str:
    """``<project_name>-``; refuses a project name that cannot start a valid SageMaker name."""
    if not _NAME_PREFIX.match(project_name) or len(project_name) > 29:
        raise ValueError(
            f"ds-on-aws.project_name {project_name!r}: must start and end with a letter or digit and have at most "
            "29 characters, so that '<project_name>-<32 hex characters>' is a valid SageMaker name"
        )
    return f"{project_name}-"


def input_is_invalid(settings: Settings, *, raw_uri: str, endpoint_name: str, name_prefix: str) -> sfn.Condition:
    """True when a merged setting has the wrong type, range or scope (all five are present after the merge).

    Checked before anything runs, so a typo costs seconds, not a Glue job and a training job:
    ``raw_s3_uri`` must lie under the raw prefix (the only place the Glue job may read), ``endpoint_name`` must be
    the configured name or start with the project prefix (the only endpoints the role may touch) and contain none
    of the characters a SageMaker name cannot have (``_``, ``.``, ``/``, spaces).
    """
    c = sfn.Condition
    endpoint = settings.endpoint_name
    return c.or_(
        c.not_(c.is_string(settings.raw_s3_uri)),
        c.not_(c.string_matches(settings.raw_s3_uri, f"{raw_uri}*")),
        c.not_(c.is_numeric(settings.min_accuracy)),
        c.number_less_than(settings.min_accuracy, 0),
        c.number_greater_than(settings.min_accuracy, 1),
        c.not_(c.is_boolean(settings.deploy)),
        c.not_(c.is_string(endpoint)),
        c.and_(c.not_(c.string_equals(endpoint, endpoint_name)), c.not_(c.string_matches(endpoint, f"{name_prefix}*"))),
        *(c.string_matches(endpoint, pattern) for pattern in ("*_*", "*.*", "*/*", "* *", "*-")),
        c.is_string(settings.hyperparameters),
        c.is_numeric(settings.hyperparameters),
        c.is_boolean(settings.hyperparameters),
        c.is_null(settings.hyperparameters),
    )


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
        self.endpoint_arns = [
            stack.format_arn(service="sagemaker", resource="endpoint", resource_name=config.endpoint.name.lower()),
            stack.format_arn(service="sagemaker", resource="endpoint", resource_name=f"{self.prefix.lower()}*"),
        ]

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
        self.deployment = EndpointDeployment(
            self,
            "Deployment",
            config=config.endpoint,
            key=key,
            image_uri=self.training.image_uri,
            artifacts_bucket=artifacts_bucket,
            notifications=notifications,
            failures=self.failures,
            endpoint_arns=self.endpoint_arns,
        )
        definition = self._definition(raw_bucket, curated_bucket, artifacts_bucket, glue_job, notifications)

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
        self._grant(key, raw_bucket, glue_job, notifications)

    # --- definition -------------------------------------------------------------------------------------------

    def _definition(
        self,
        raw: s3.IBucket,
        curated: s3.IBucket,
        artifacts: s3.IBucket,
        glue_job: glue.IJob,
        notifications: Notifications,
    ) -> sfn.IChainable:
        config, failures = self.config, self.failures
        stack = Stack.of(self)

        invalid_input = failures.reject(
            "Validate input",
            error="InvalidInput",
            message=sfn.JsonPath.format(
                "Execution input rejected: optional fields are raw_s3_uri (string under s3://"
                + raw.bucket_name
                + f"/{config.raw_prefix}), hyperparameters (object of strings), min_accuracy (number 0..1), "
                f"endpoint_name ({config.endpoint.name} or {self.prefix}... with letters, digits and dashes), "
                "deploy (true/false); got {}",
                sfn.JsonPath.json_to_string(sfn.JsonPath.object_at(EXECUTION_INPUT)),
            ),
        )
        load_defaults = sfn.Pass(
            self,
            "Load defaults",
            comment="Defaults from cdk.json (ds-on-aws context); the execution input overrides them.",
            parameters={
                "defaults": {
                    "raw_s3_uri": f"s3://{raw.bucket_name}/{config.raw_prefix}",
                    "hyperparameters": dict(config.training.hyperparameters),
                    "min_accuracy": config.model_quality.min_accuracy,
                    "endpoint_name": config.endpoint.name,
                    "deploy": True,
                },
                # The code-delivery keys of the training job's spec (the code channel of the isolated job).
                "script_mode": dict(self.training.spec.script_mode),
                "input": sfn.JsonPath.object_at(EXECUTION_INPUT),
            },
            result_path=PREPARE,
        )
        merge = sfn.Pass(
            self,
            "Merge input over defaults",
            parameters={
                "settings": sfn.JsonPath.json_merge(
                    sfn.JsonPath.object_at(PREPARE.defaults), sfn.JsonPath.object_at(PREPARE.input)
                )
            },
            result_path=PREPARE.merged,
        )
        name = sfn.JsonPath.format(
            f"{self.prefix}{{}}", sfn.JsonPath.hash(sfn.JsonPath.string_at(EXECUTION_ID), "MD5")
        )
        run_id = sfn.JsonPath.execution_name
        settings = PREPARE.merged.settings
        derive = sfn.Pass(
            self,
            "Derive run names",
            comment="run_id = execution name (S3 paths, tags); SageMaker names = <project>-<MD5 of the execution ARN>.",
            parameters={
                "run_id": run_id,
                "raw_s3_uri": sfn.JsonPath.string_at(settings.raw_s3_uri),
                "min_accuracy": sfn.JsonPath.number_at(settings.min_accuracy),
                "endpoint_name": sfn.JsonPath.string_at(settings.endpoint_name),
                "deploy": sfn.JsonPath.string_at(settings.deploy),
                # per key: cdk.json defaults < execution input < script-mode keys (which cannot be overridden)
                "hyperparameters": sfn.JsonPath.json_merge(
                    sfn.JsonPath.json_merge(
                        sfn.JsonPath.object_at(PREPARE.defaults.hyperparameters),
                        sfn.JsonPath.object_at(settings.hyperparameters),
                    ),
                    sfn.JsonPath.object_at(PREPARE.script_mode),
                ),
                "names": {"training_job": name, "model": name, "endpoint_config": name},
                "channels": {
                    split: sfn.JsonPath.format(f"s3://{curated.bucket_name}/curated/{{}}/{split}/", run_id)
                    for split in ("train", "validation")
                },
                "model_output_uri": sfn.JsonPath.format(f"s3://{artifacts.bucket_name}/models/{{}}/", run_id),
                "tags": [
                    {"Key": STACK_TAG_KEY, "Value": stack.stack_name},
                    {"Key": EXECUTION_TAG_KEY, "Value": run_id},
                ],
            },
            result_path=RUN,
        )
        keep_run = sfn.Pass(self, "Keep run settings", parameters={"run": sfn.JsonPath.object_at(RUN)})

        clean = failures.protect(
            tasks.GlueStartJobRun(
                self,
                "Clean reviews",
                comment="Glue job: clean, split, quarantine; fails when the data-quality gate refuses the data.",
                glue_job_name=glue_job.job_name,
                integration_pattern=sfn.IntegrationPattern.RUN_JOB,
                arguments=sfn.TaskInput.from_object(
                    {
                        "--input_uri": sfn.JsonPath.string_at(RUN.raw_s3_uri),
                        "--run_id": sfn.JsonPath.string_at(RUN.run_id),
                    }
                ),
                result_selector={
                    "job_run_id": sfn.JsonPath.string_at(answer("Id")),
                    "state": sfn.JsonPath.string_at(answer("JobRunState")),
                },
                result_path=GLUE,
            ),
            "Clean reviews",
            retry="glue",
        )
        train = failures.protect(
            self.training.task, "Train model", retry="sagemaker", then=self.training.failure_report(failures)
        )

        # The training result is kept whole ($.training_job): FinalMetricDataList is optional in DescribeTrainingJob,
        # and a ResultSelector path that is missing would fail the execution with an uncatchable States.Runtime.
        read_accuracy = sfn.Pass(
            self,
            "Read validation accuracy",
            parameters={
                "job_name": sfn.JsonPath.string_at(TRAINING_JOB.TrainingJobName),
                "model_data_url": sfn.JsonPath.string_at(TRAINING_JOB.ModelArtifacts.S3ModelArtifacts),
                "values": sfn.JsonPath.list_at(
                    VALIDATION_ACCURACY_VALUES
                ),
            },
            result_path=TRAINING,
        )
        keep_accuracy = sfn.Pass(
            self,
            "Keep validation accuracy",
            parameters={"accuracy": sfn.JsonPath.number_at(first(TRAINING.values))},
            result_path=GATE,
        )
        no_metric = failures.reject(
            "Read validation accuracy",
            error="MetricMissing",
            message=sfn.JsonPath.format(
                "Training job {} reported no numeric validation:accuracy in FinalMetricDataList",
                sfn.JsonPath.string_at(TRAINING_JOB.TrainingJobName),
            ),
        )
        metrics_present = (
            sfn.Choice(self, "Metrics reported?")
            .when(sfn.Condition.is_present(TRAINING_JOB.FinalMetricDataList), read_accuracy)
            .otherwise(no_metric)
        )
        has_metric = (
            sfn.Choice(self, "Accuracy reported?")
            # IsPresent first: any other test on a missing path is an uncatchable States.Runtime error
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present(first(TRAINING.values)), sfn.Condition.is_numeric(first(TRAINING.values))
                ),
                keep_accuracy,
            )
            .otherwise(no_metric)
        )

        lookup = self._live_lookup()
        gate = self._gate(notifications)
        read_accuracy.next(has_metric)
        keep_accuracy.next(lookup.start)
        lookup.end_with(gate)

        valid = (
            sfn.Choice(self, "Input valid?")
            .when(
                input_is_invalid(
                    settings,
                    raw_uri=f"s3://{raw.bucket_name}/{config.raw_prefix}",
                    endpoint_name=config.endpoint.name,
                    name_prefix=self.prefix,
                ),
                invalid_input,
            )
            .otherwise(sfn.Chain.start(derive).next(keep_run).next(clean).next(train).next(metrics_present))
        )
        chain = sfn.Chain.start(load_defaults).next(merge).next(valid)
        return chain

    def _live_lookup(self) -> _LiveLookup:
        return _LiveLookup(self, self.failures, self.endpoint_arns)

    def _gate(self, notifications: Notifications) -> sfn.Choice:
        """Model-quality gate: threshold, then (config) not worse than the live model; then deploy or stop."""
        config = self.config
        rejected = sfn.Fail(
            self,
            "Model rejected",
            comment="The live endpoint was not touched.",
            error="ModelRejected",
            cause_path=REJECTION.message,
        )
        notify_rejected = self.failures.protect(
            notifications.publish(
                self,
                "Notify rejection",
                subject="ds-on-aws: model REJECTED",
                message=sfn.TaskInput.from_json_path_at(REJECTION.message),
            ),
            "Notify rejection",
            retry="sns",
        )
        notify_rejected.next(rejected)
        below = sfn.Pass(
            self,
            "Below threshold",
            parameters={
                "message": sfn.JsonPath.format(
                    "Model rejected: validation accuracy {} is below the threshold {} (training job {}). "
                    "The live endpoint was not touched.",
                    sfn.JsonPath.string_at(GATE.accuracy),
                    sfn.JsonPath.string_at(RUN.min_accuracy),
                    sfn.JsonPath.string_at(TRAINING.job_name),
                )
            },
            result_path=REJECTION,
        ).next(notify_rejected)
        worse = sfn.Pass(
            self,
            "Worse than live model",
            parameters={
                "message": sfn.JsonPath.format(
                    "Model rejected: validation accuracy {} is below the live model accuracy {} on endpoint {} "
                    "(training job {}). The live endpoint was not touched.",
                    sfn.JsonPath.string_at(GATE.accuracy),
                    sfn.JsonPath.string_at(LIVE.accuracy),
                    sfn.JsonPath.string_at(RUN.endpoint_name),
                    sfn.JsonPath.string_at(TRAINING.job_name),
                )
            },
            result_path=REJECTION,
        ).next(notify_rejected)

        not_deployed = self.failures.protect(
            notifications.publish(
                self,
                "Notify accepted, not deployed",
                subject="ds-on-aws: model accepted (not deployed)",
                message=sfn.TaskInput.from_text(
                    sfn.JsonPath.format(
                        "Run {} trained {} with validation accuracy {}; deploy was false, so no endpoint changed.",
                        sfn.JsonPath.execution_name,
                        sfn.JsonPath.string_at(TRAINING.job_name),
                        sfn.JsonPath.string_at(GATE.accuracy),
                    )
                ),
            ),
            "Notify accepted, not deployed",
            retry="sns",
        )
        not_deployed.next(sfn.Succeed(self, "Accepted, not deployed"))
        deploy = (
            sfn.Choice(self, "Deploy?")
            .when(sfn.Condition.boolean_equals(RUN.deploy, True), self.deployment.start)
            .otherwise(not_deployed)
        )

        gate = sfn.Choice(self, "Model-quality gate").when(
            sfn.Condition.number_less_than_json_path(GATE.accuracy, RUN.min_accuracy), below
        )
        if config.model_quality.compare_with_live:
            gate.when(
                sfn.Condition.and_(
                    sfn.Condition.boolean_equals(LIVE.has_accuracy, True),
                    sfn.Condition.number_less_than_json_path(GATE.accuracy, LIVE.accuracy),
                ),
                worse,
            )
        gate.otherwise(deploy)
        return gate

    # --- permissions ------------------------------------------------------------------------------------------

    def _timeout_seconds(self) -> int:
        """Glue timeout + training max wait + endpoint wait budget + one hour of slack."""
        c = self.config
        return (
            c.glue.timeout_minutes * 60
            + c.training.max_wait_seconds
            + c.endpoint.wait_seconds * c.endpoint.max_wait_attempts
            + 3600
        )

    def _grant(self, key: kms.IKey, raw: s3.IBucket, glue_job: glue.IJob, notifications: Notifications) -> None:
        """The state machine role's whole policy, scoped to this stack's job, name prefix, endpoint and topic."""
        stack = Stack.of(self)
        prefix = self.prefix.lower()

        def sm_arn(resource: str, name: str) -> str:
            return stack.format_arn(service="sagemaker", resource=resource, resource_name=name)

        statements = [
            iam.PolicyStatement(
                sid="RunCleaningJob",
                actions=["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"],
                resources=[glue_job.job_arn],
            ),
            iam.PolicyStatement(
                sid="RunTrainingJob",
                actions=["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"],
                resources=[sm_arn("training-job", f"{prefix}*")],
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
            iam.PolicyStatement(
                sid="CreateModelAndEndpointConfig",
                actions=["sagemaker:CreateModel", "sagemaker:CreateEndpointConfig"],
                resources=[sm_arn("model", f"{prefix}*"), sm_arn("endpoint-config", f"{prefix}*")],
            ),
            iam.PolicyStatement(
                sid="DeployEndpoint",
                actions=["sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"],
                resources=[*self.endpoint_arns, sm_arn("endpoint-config", f"{prefix}*")],
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
                    sm_arn("training-job", f"{prefix}*"),
                    sm_arn("model", f"{prefix}*"),
                    sm_arn("endpoint-config", f"{prefix}*"),
                    *self.endpoint_arns,
                ],
            ),
            iam.PolicyStatement(
                sid="PassSageMakerRoles",
                actions=["iam:PassRole"],
                resources=[self.training.role.role_arn, self.deployment.model_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
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
        del raw  # the state machine never reads data itself


class _LiveLookup:
    """Describe the live endpoint and read its recorded accuracy into ``$.live`` = {exists, has_accuracy, accuracy, ...}.

    A ``describeEndpoint`` "Could not find endpoint" error means first run (no live endpoint); any other error fails
    the run. An endpoint that exists but is not InService (another deployment running, or Failed) stops the run
    without touching it.
    """

    def __init__(self, scope: PipelineStateMachine, failures: FailureHandler, endpoint_arns: list[str]) -> None:
        describe = tasks.CallAwsService(
            scope,
            "Look up live endpoint",
            service="sagemaker",
            action="describeEndpoint",
            parameters={"EndpointName": sfn.JsonPath.string_at(RUN.endpoint_name)},
            iam_resources=endpoint_arns,
            result_selector={
                "exists": True,
                "has_accuracy": False,
                "accuracy": 0,  # always present, so no Choice ever reads a missing path
                "name": sfn.JsonPath.string_at(answer("EndpointName")),
                "arn": sfn.JsonPath.string_at(answer("EndpointArn")),
                "status": sfn.JsonPath.string_at(answer("EndpointStatus")),
                "config": sfn.JsonPath.string_at(answer("EndpointConfigName")),
            },
            result_path=LIVE,
        )
        first_run = sfn.Pass(
            scope,
            "No live endpoint",
            comment="First run: nothing to compare with, the endpoint will be created.",
            parameters={"exists": False, "has_accuracy": False, "accuracy": 0},
            result_path=LIVE,
        )
        lookup_failed = failures.describe(
            "Look up live endpoint",
            error=LIVE_ERROR.Error,
            cause=LIVE_ERROR.Cause,
            state_name="Live endpoint lookup failed",
        )
        not_found = (
            sfn.Choice(scope, "Endpoint not found?")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present(LIVE_ERROR.Cause),
                    sfn.Condition.string_matches(LIVE_ERROR.Cause, NOT_FOUND_CAUSE),
                ),
                first_run,
            )
            .otherwise(lookup_failed)
        )
        # Specific catch first: a not-found answer is a normal first run, not a failure.
        # Throttling arrives as the same generic SageMakerException as "not found": retried briefly (3 tries), then
        # the cause text decides (a real not-found costs ~15 s of retries, a throttled lookup does not fail the run).
        for policy in transient_retries("sagemaker-sdk"):
            describe.add_retry(**vars_of(policy))
        describe.add_catch(not_found, errors=list(NOT_FOUND_ERRORS), result_path=LIVE_ERROR)
        failures.protect(describe, "Look up live endpoint")

        busy = failures.reject(
            "Live endpoint check",
            error="LiveEndpointNotReady",
            message=sfn.JsonPath.format(
                "Endpoint {} is {} (not InService): another deployment may be running or it needs attention; "
                "it was not touched.",
                sfn.JsonPath.string_at(LIVE.name),
                sfn.JsonPath.string_at(LIVE.status),
            ),
        )
        list_tags = failures.protect(
            tasks.CallAwsService(
                scope,
                "Read live model accuracy",
                service="sagemaker",
                action="listTags",
                parameters={"ResourceArn": sfn.JsonPath.string_at(LIVE.arn)},
                iam_resources=endpoint_arns,
                result_path=LIVE_TAGS,  # whole answer: Tags is optional in the API, a selector must not read it
            ),
            "Read live model accuracy",
            retry="sagemaker-sdk",
        )
        keep_live = sfn.Pass(
            scope,
            "Keep live accuracy",
            parameters={
                "exists": True,
                "has_accuracy": True,
                "name": sfn.JsonPath.string_at(LIVE.name),
                "arn": sfn.JsonPath.string_at(LIVE.arn),
                "status": sfn.JsonPath.string_at(LIVE.status),
                "config": sfn.JsonPath.string_at(LIVE.config),
                "accuracy": sfn.JsonPath.string_to_json(sfn.JsonPath.string_at(first(LIVE_TAGS.values))),
            },
            result_path=LIVE,
        )
        find_tag = sfn.Pass(
            scope,
            "Find accuracy tag",
            parameters={"values": sfn.JsonPath.list_at(tag_values(ACCURACY_TAG))},
            result_path=LIVE_TAGS,
        )
        self._tags_listed = sfn.Choice(scope, "Tags listed?")
        self._tags_listed.when(sfn.Condition.is_present(LIVE_TAGS.Tags), find_tag)
        self._recorded = sfn.Choice(scope, "Live accuracy recorded?")
        self._recorded.when(sfn.Condition.is_present(first(LIVE_TAGS.values)), keep_live)
        find_tag.next(self._recorded)
        in_service = (
            sfn.Choice(scope, "Live endpoint in service?")
            .when(sfn.Condition.string_equals(LIVE.status, "InService"), list_tags)
            .otherwise(busy)
        )
        describe.next(in_service)
        list_tags.next(self._tags_listed)
        self._ends: list[sfn.INextable] = [first_run, keep_live]
        self.start: sfn.IChainable = describe

    def end_with(self, state: sfn.IChainable) -> None:
        """Continue every successful lookup outcome with ``state`` (the gate)."""
        for end in self._ends:
            end.next(state)
        self._recorded.otherwise(state)
        self._tags_listed.otherwise(state)
