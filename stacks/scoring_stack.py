"""The scoring stack: bulk scoring of customer feedback beside the training pipeline.

Stateless like the pipeline stack: the scoring state machine, its publish job, the ``predictions`` catalog table
(metadata only; the data stays in the curated bucket), the optional upload trigger and the outputs. It reuses the
pipeline stack's cleaning job, notification topic and model role, and the data stack's buckets and key.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_events as events
from constructs import Construct

from ds_on_aws.config import PipelineConfig
from stacks.constructs.catalog import PredictionsTable
from stacks.constructs.cleanup import TeardownSageMakerResources
from stacks.constructs.scoring import ScoringStateMachine
from stacks.constructs.upload_trigger import console_url, start_on_upload
from stacks.data_stack import DataStack
from stacks.pipeline_stack import TRIGGER_SUFFIXES, PipelineStack


class ScoringStack(Stack):
    """Scoring state machine, publish job, predictions table, upload trigger (off by default), outputs."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: PipelineConfig, data: DataStack, pipeline: PipelineStack,
        **kwargs,
    ) -> None:
        super().__init__(
            scope, construct_id, description=f"{config.project_name}: bulk scoring of customer feedback", **kwargs
        )
        self.config = config
        self.predictions = PredictionsTable(
            self, "PredictionsCatalog", database_name=data.glue_database_name, curated_bucket=data.curated_bucket
        )
        self.scoring = ScoringStateMachine(
            self,
            "Scoring",
            config=config,
            key=data.key,
            raw_bucket=data.raw_bucket,
            curated_bucket=data.curated_bucket,
            cleaning=pipeline.cleaning,
            model_role=pipeline.pipeline.deployment.model_role,
            database_name=data.glue_database_name,
            name_prefix=pipeline.pipeline.prefix,
            endpoint_arn=pipeline.pipeline.endpoint_arns[0],
            notifications=pipeline.notifications,
        )
        self.state_machine = self.scoring.state_machine
        self.uncatchable_ends = pipeline.notifications.notify_uncatchable_ends(
            self.state_machine, "ScoringUncatchableEnds", scope=self
        )
        # On stack deletion: stop the scoring runs' transform jobs still running (the state machine goes first).
        self.teardown = TeardownSageMakerResources(
            self,
            "TeardownScoring",
            stack_tag=self.stack_name,
            name_prefix=pipeline.pipeline.prefix,
            encryption_key=data.key,
            stop_transform_jobs=True,
        )
        self.teardown.runs_after_deletion_of(self.state_machine)
        self.trigger = self._trigger(data) if config.scoring.trigger_on_upload else None
        self._outputs(data)

    def _trigger(self, data: DataStack) -> events.Rule:
        """Score a data file when it lands under the scoring prefix (EventBridge notifications on the raw bucket)."""
        return start_on_upload(
            self, "ScoreOnUpload", data=data, prefix=self.config.scoring.input_prefix, suffixes=TRIGGER_SUFFIXES,
            state_machine=self.state_machine, input_field="input_s3_uri",
            description="Start a scoring run when a feedback file is uploaded under the scoring prefix",
        )

    def _outputs(self, data: DataStack) -> None:
        sm = self.state_machine
        feedback_uri = f"s3://{data.raw_bucket.bucket_name}/{self.config.scoring.input_prefix}"
        console = console_url(sm)
        for name, value, description in (
            ("ScoringStateMachineArn", sm.state_machine_arn, "The scoring state machine"),
            ("ScoringStateMachineConsoleUrl", console,
             "Open it, choose 'Start execution', input {} (or input_s3_uri / model_name)"),
            ("FeedbackUploadCommand", f"aws s3 cp feedback.csv {feedback_uri}feedback.csv",
             "Upload feedback to score (CSV, JSON Lines or Parquet with a text column)"),
            ("StartScoringCommand",
             Fn.join("", ["aws stepfunctions start-execution --state-machine-arn ", sm.state_machine_arn,
                          " --input '{}'"]),
             "Score everything under the scoring prefix with the model the live endpoint serves"),
            ("PredictionsTable", f"{data.glue_database_name}.predictions",
             "Athena: SELECT label, count(*) FROM <this> WHERE run_id = '<execution name>' GROUP BY label"),
            ("PublishJobName", self.scoring.publish_job.job_name, "The Glue Python shell job behind the table"),
        ):
            CfnOutput(self, name, value=value, description=description)
