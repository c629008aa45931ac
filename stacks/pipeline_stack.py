"""The pipeline stack: Glue cleaning job, SageMaker training/hosting driven by one Step Functions state machine.

Stateless by design (everything stateful lives in ``DataStack``): destroying it removes the job, the state machine,
the notification topic and, through ``TeardownSageMakerResources``, every endpoint, endpoint config and model the
runs created.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, Fn, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from ds_on_aws.config import PipelineConfig
from stacks.constructs.cleanup import TeardownSageMakerResources
from stacks.constructs.glue_job import CleaningJob
from stacks.constructs.notifications import Notifications
from stacks.constructs.scoring import ScoringStateMachine
from stacks.constructs.state_machine import PipelineStateMachine
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
            scoring_prefix=config.scoring.input_prefix,
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
        self.scoring = self._scoring(data)

    def _scoring(self, data: DataStack) -> ScoringStateMachine:
        """The scoring state machine beside the training pipeline, its notices, teardown order, trigger, outputs."""
        scoring = ScoringStateMachine(
            self,
            "Scoring",
            config=self.config,
            key=data.key,
            raw_bucket=data.raw_bucket,
            curated_bucket=data.curated_bucket,
            cleaning=self.cleaning,
            model_role=self.pipeline.deployment.model_role,
            database_name=data.glue_database_name,
            name_prefix=self.pipeline.prefix,
            endpoint_arn=self.pipeline.endpoint_arns[0],
            notifications=self.notifications,
        )
        self.scoring_uncatchable_ends = self.notifications.notify_uncatchable_ends(
            scoring.state_machine, "ScoringUncatchableEnds"
        )
        self.teardown.runs_after_deletion_of(scoring.state_machine)
        self.scoring_trigger = self._scoring_trigger(data, scoring) if self.config.scoring.trigger_on_upload else None
        self._scoring_outputs(data, scoring)
        return scoring

    def _scoring_trigger(self, data: DataStack, scoring: ScoringStateMachine) -> events.Rule:
        """Score a data file when it lands under the scoring prefix (EventBridge notifications on the raw bucket)."""
        data.send_raw_events_to_eventbridge()
        rule = events.Rule(
            self,
            "ScoreOnUpload",
            description="Start a scoring run when a feedback file is uploaded under the scoring prefix",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [data.raw_bucket.bucket_name]},
                    "object": {
                        "key": [{"prefix": self.config.scoring.input_prefix}],
                        "$or": [{"key": [{"suffix": suffix}]} for suffix in TRIGGER_SUFFIXES],
                    },
                },
            ),
        )
        rule.add_target(
            targets.SfnStateMachine(
                scoring.state_machine,
                input=events.RuleTargetInput.from_object(
                    {
                        "input_s3_uri": f"s3://{data.raw_bucket.bucket_name}/"
                        + events.EventField.from_path("$.detail.object.key")
                    }
                ),
            )
        )
        return rule

    def _scoring_outputs(self, data: DataStack, scoring: ScoringStateMachine) -> None:
        sm = scoring.state_machine
        feedback_uri = f"s3://{data.raw_bucket.bucket_name}/{self.config.scoring.input_prefix}"
        for name, value, description in (
            ("ScoringStateMachineArn", sm.state_machine_arn, "The scoring state machine"),
            ("ScoringStateMachineConsoleUrl", _console_url(sm.state_machine_arn),
             "Open it, choose 'Start execution', input {} (or input_s3_uri / model_name)"),
            ("FeedbackUploadCommand", f"aws s3 cp feedback.csv {feedback_uri}feedback.csv",
             "Upload feedback to score (CSV, JSON Lines or Parquet with a text column)"),
            ("StartScoringCommand",
             Fn.join("", ["aws stepfunctions start-execution --state-machine-arn ", sm.state_machine_arn,
                          " --input '{}'"]),
             "Score everything under the scoring prefix with the live endpoint's model"),
            ("PredictionsTable", f"{data.glue_database_name}.predictions",
             "Athena: SELECT label, count(*) FROM <this> WHERE run_id = '<execution name>' GROUP BY label"),
            ("PublishJobName", scoring.publish_job.job_name, "The Glue Python shell job behind the predictions table"),
        ):
            CfnOutput(self, name, value=value, description=description)

    def _trigger(self, data: DataStack) -> events.Rule:
        """Start a run when a data file lands under the raw prefix (needs EventBridge notifications on the raw bucket)."""
        data.send_raw_events_to_eventbridge()
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

    def _outputs(self, data: DataStack) -> None:
        sm = self.state_machine
        console = _console_url(sm.state_machine_arn)
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


def _console_url(state_machine_arn: str) -> str:
    """The Step Functions console page of a state machine in the deployment region."""
    return Fn.join(
        "",
        [
            "https://",
            Aws.REGION,
            ".console.aws.amazon.com/states/home?region=",
            Aws.REGION,
            "#/statemachines/view/",
            state_machine_arn,
        ],
    )
