"""The pipeline stack: Glue cleaning job, SageMaker training/hosting driven by one Step Functions state machine.

Stateless by design (everything stateful lives in ``DataStack``): destroying it removes the job, the state machine,
the notification topic and, through ``TeardownSageMakerResources``, every endpoint, endpoint config and model the
runs created.
"""

from __future__ import annotations

import hashlib
import json
import re

from aws_cdk import Aws, CfnOutput, Fn, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from ds_on_aws.config import PipelineConfig
from stacks.constructs.cleanup import TeardownSageMakerResources
from stacks.constructs.glue_job import CleaningJob
from stacks.constructs.notifications import Notifications
from stacks.constructs.state_machine import PipelineStateMachine
from stacks.data_stack import DataStack
from stacks.nag import acknowledge

# Uploads that start a run when trigger_on_upload is on: whole data files, not the 100k files of an aclImdb tree.
TRIGGER_SUFFIXES = (".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".json.gz", ".parquet", ".tar.gz")


class PipelineStack(Stack):
    """Glue job, SageMaker training and hosting, and the state machine that runs them."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: PipelineConfig, data: DataStack, **kwargs
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"{config.project_name}: Glue, SageMaker and Step Functions pipeline",
            **kwargs,
        )
        self.config = config
        self.notifications = Notifications(
            self, "Notifications", key=data.key, project_name=config.project_name, email=config.notification_email
        )
        self.cleaning = CleaningJob(
            self,
            "Cleaning",
            config=config.glue,
            data_quality=config.data_quality,
            key=data.key,
            raw_bucket=data.raw_bucket,
            raw_prefix=config.raw_prefix,
            curated_bucket=data.curated_bucket,
            project_name=config.project_name,
        )
        self.pipeline = PipelineStateMachine(
            self,
            "Pipeline",
            config=config,
            key=data.key,
            raw_bucket=data.raw_bucket,
            curated_bucket=data.curated_bucket,
            artifacts_bucket=data.artifacts_bucket,
            glue_job=self.cleaning.job,
            notifications=self.notifications,
        )
        self.state_machine = self.pipeline.state_machine
        self.uncatchable_ends = self.notifications.notify_uncatchable_ends(self.state_machine)
        self.teardown = TeardownSageMakerResources(
            self,
            "TeardownSageMaker",
            stack_tag=self.stack_name,
            name_prefix=f"{config.project_name}-",
            encryption_key=data.key,
        )
        self.teardown.runs_after_deletion_of(self.state_machine)
        self.trigger = self._trigger(data) if config.trigger_on_upload else None
        self._outputs(data)
        self._acknowledge_findings(data)

    def _trigger(self, data: DataStack) -> events.Rule:
        """Start a run when a data file lands under the raw prefix (needs EventBridge notifications on the raw bucket)."""
        self._enable_event_bridge(data)
        rule = events.Rule(
            self,
            "StartOnUpload",
            description="Start the pipeline when a data file is uploaded under the raw prefix",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [data.raw_bucket.bucket_name]},
                    "object": {
                        "key": [{"prefix": self.config.raw_prefix}],
                        "$or": [{"key": [{"suffix": suffix}]} for suffix in TRIGGER_SUFFIXES],
                    },
                },
            ),
        )
        rule.add_target(
            targets.SfnStateMachine(
                self.state_machine,
                input=events.RuleTargetInput.from_object(
                    {
                        "raw_s3_uri": f"s3://{data.raw_bucket.bucket_name}/"
                        + events.EventField.from_path("$.detail.object.key")
                    }
                ),
            )
        )
        return rule

    @staticmethod
    def _enable_event_bridge(data: DataStack) -> None:
        """Turn on S3 -> EventBridge notifications of the raw bucket, unless the data stack already did.

        The property belongs to the raw bucket (data stack); it is set here, next to the rule that needs it, so the
        flag works end to end. It only adds delivery of S3 events to the account's default bus.
        """
        bucket = data.raw_bucket.node.default_child
        notifications = data.raw_bucket.node.default_child.notification_configuration  # type: ignore[union-attr]
        already = bool(notifications) and "EventBridgeConfiguration" in json.dumps(data.resolve(notifications))
        if not already:
            bucket.add_property_override("NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True)  # type: ignore[union-attr]

    def _outputs(self, data: DataStack) -> None:
        sm = self.state_machine
        console = Fn.join(
            "",
            [
                "https://",
                Aws.REGION,
                ".console.aws.amazon.com/states/home?region=",
                Aws.REGION,
                "#/statemachines/view/",
                sm.state_machine_arn,
            ],
        )
        raw_uri = f"s3://{data.raw_bucket.bucket_name}/{self.config.raw_prefix}"
        for name, value, description in (
            ("StateMachineArn", sm.state_machine_arn, "The pipeline's state machine"),
            ("StateMachineName", sm.state_machine_name, "The pipeline's state machine name"),
            ("StateMachineConsoleUrl", console, "Open it, choose 'Start execution', input {}"),
            ("RawBucketName", data.raw_bucket.bucket_name, "Upload raw reviews here, under the raw prefix"),
            ("CuratedBucketName", data.curated_bucket.bucket_name, "Curated splits, quarantine, data-quality reports"),
            ("ArtifactsBucketName", data.artifacts_bucket.bucket_name, "Models (models/<run_id>/)"),
            ("GlueJobName", self.cleaning.job_name, "The cleaning job"),
            ("NotificationTopicArn", self.notifications.topic.topic_arn, "Success, rejection and failure notices"),
            ("EndpointName", self.config.endpoint.name, "The live endpoint (created by the first successful run)"),
            (
                "UploadCommand",
                f"aws s3 cp train.csv.gz {raw_uri}train.csv.gz",
                "Upload the IMDb training file (or your reviews)",
            ),
            (
                "StartRunCommand",
                Fn.join(
                    "",
                    ["aws stepfunctions start-execution --state-machine-arn ", sm.state_machine_arn, " --input '{}'"],
                ),
                "Start a run with the defaults of cdk.json",
            ),
        ):
            CfnOutput(self, name, value=value, description=description)

    def _acknowledge_findings(self, data: DataStack) -> None:
        """cdk-nag findings this stack accepts: each on one resource, with why it cannot be narrower (stacks/nag.py).

        All are AwsSolutions-IAM5 (a wildcard in a resource): S3 prefixes whose object names are only known at run
        time, SageMaker names derived from the execution, log groups SageMaker/Glue name themselves, and actions that
        have no resource type at all. No statement has a wildcard action.
        """
        sm = self.pipeline
        glue_policy = self.cleaning.role.node.find_child("DefaultPolicy")
        training_policy = sm.training.role.node.find_child("DefaultPolicy")
        model_policy = sm.model_role.node.find_child("DefaultPolicy")
        prefix = f"{self.config.project_name}-".lower()

        def objects(bucket, pattern: str) -> str:
            return f"AwsSolutions-IAM5[Resource::{imported_reference(data, bucket.bucket_arn)}/{pattern}]"

        def local(arn: str) -> str:
            return f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:{arn}]"

        run_time_names = (
            "objects are written and read under per-run prefixes (curated/<run_id>/..., models/<run_id>/...) whose "
            "run id is the Step Functions execution name, known only at run time; the prefix is the narrowest "
            "fixed scope and the bucket belongs to this project"
        )
        for policy, bucket, pattern in (
            (glue_policy, data.raw_bucket, f"{self.config.raw_prefix}*"),
            (glue_policy, data.curated_bucket, "curated/*"),
            (glue_policy, data.curated_bucket, "tables/*"),
            (glue_policy, data.curated_bucket, "quarantine/*"),
            (glue_policy, data.curated_bucket, "reports/*"),
            (training_policy, data.curated_bucket, "curated/*"),
            (training_policy, data.artifacts_bucket, "models/*"),
            (model_policy, data.artifacts_bucket, "models/*"),
        ):
            reason = (
                f"Uploads are read from the raw prefix {self.config.raw_prefix}, whatever their file names"
                if bucket is data.raw_bucket
                else f"The {pattern[:-1]} {run_time_names}"
            )
            acknowledge(policy, objects(bucket, pattern), reason)
        for policy, pattern, service in (
            (glue_policy, "logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws-glue/*", "Glue"),
            (
                training_policy,
                "logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/TrainingJobs:*",
                "SageMaker training",
            ),
            (
                model_policy,
                "logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/Endpoints/*",
                "SageMaker hosting",
            ),
        ):
            acknowledge(
                policy,
                local(pattern),
                f"{service} writes container logs to log groups and streams it names itself per job/endpoint at run "
                "time; the pattern is the service's own log group namespace in this account and region",
            )
        for policy, what in (
            (glue_policy, "cloudwatch:PutMetricData (condition: namespace Glue)"),
            (training_policy, "cloudwatch:PutMetricData (namespace /aws/sagemaker/*) and ecr:GetAuthorizationToken"),
            (model_policy, "cloudwatch:PutMetricData (namespace /aws/sagemaker/*) and ecr:GetAuthorizationToken"),
            (sm.policy, "the CloudWatch Logs log-delivery APIs and the X-Ray trace APIs"),
        ):
            acknowledge(
                policy,
                "AwsSolutions-IAM5[Resource::*]",
                f"Resource '*' only for {what}: these actions support no resource-level permissions (Service "
                "Authorization Reference); every other statement of this policy names its resources",
            )
        for kind in ("training-job", "model", "endpoint-config", "endpoint"):
            acknowledge(
                sm.policy,
                local(f"sagemaker:<AWS::Region>:<AWS::AccountId>:{kind}/{prefix}*"),
                f"SageMaker {kind} names are derived from each execution at run time (<project>-<hash of the "
                f"execution ARN>), so only the project prefix {prefix} is known at deploy time",
            )


def imported_reference(producer: Stack, token: str) -> str:
    """How cdk-nag prints ``token`` (an attribute of ``producer``) inside a finding of a consuming stack.

    With the ``@aws-cdk/core:defaultCrossStackReferences: weak`` flag of cdk.json, CDK turns a cross-stack reference
    into ``Fn::GetStackOutput`` of an output it adds to the producer under ``Publish/Output<resolved reference>``
    (aws-cdk-lib ``core/lib/private/refs.js``); the output's logical id is CDK's ``makeUniqueId`` of that path:
    the alphanumerics of the path components plus the first 8 hex digits (upper case) of the MD5 of the path.
    Computing it keeps acknowledgments exact without copying generated ids. If CDK changes the scheme, synthesis
    fails with ValidationFailed and prints the new finding ids.
    """
    component = "Output" + json.dumps(producer.resolve(token), separators=(",", ":"))
    path = f"Publish/{component}"
    digest = hashlib.md5(path.encode("utf-8")).hexdigest()[:8].upper()
    output_name = re.sub(r"[^A-Za-z0-9]", "", "Publish" + component) + digest
    reference = {
        "Fn::GetStackOutput": {
            "StackName": producer.stack_name,
            "Region": {"Ref": "AWS::Region"},
            "OutputName": output_name,
        }
    }
    return json.dumps(reference, separators=(",", ":"))
