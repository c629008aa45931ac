"""The pipeline stack: Glue cleaning job, SageMaker training/hosting driven by one Step Functions state machine.

Stateless by design (everything stateful lives in ``DataStack``): destroying it removes the job, the state machine,
the notification topic and, through ``TeardownSageMakerResources``, every endpoint, endpoint config and model the
runs created.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_events as events
from constructs import Construct

from ds_on_aws.config import PipelineConfig
from stacks.constructs.cleanup import TeardownSageMakerResources
from stacks.constructs.glue_job import CleaningJob
from stacks.constructs.notifications import Notifications
from stacks.constructs.state_machine import PipelineStateMachine
from stacks.constructs.upload_trigger import console_url, start_on_upload
from stacks.data_stack import DataStack

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

    def _trigger(self, data: DataStack) -> events.Rule:
        """Start a run when a data file lands under the raw prefix (needs EventBridge notifications on the raw bucket)."""
        return start_on_upload(
            self, "StartOnUpload", data=data, prefix=self.config.raw_prefix, suffixes=TRIGGER_SUFFIXES,
            state_machine=self.state_machine, input_field="raw_s3_uri",
            description="Start the pipeline when a data file is uploaded under the raw prefix",
        )

    def _outputs(self, data: DataStack) -> None:
        sm = self.state_machine
        console = console_url(sm)
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
