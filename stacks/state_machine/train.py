"""Train: the SageMaker training job, run to completion, and its validation accuracy."""

from __future__ import annotations

from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.constructs.notifications import FailureHandler
from stacks.constructs.training import TrainingStep
from stacks.state_machine.fragment import Stage
from stacks.state_machine.state import GATE, TRAINING, TRAINING_JOB, VALIDATION_ACCURACY_VALUES, first


class TrainModel(Stage):
    """Train model (SageMaker ``.sync``) -> Metrics reported? -> Read validation accuracy -> Accuracy reported?
    -> Keep validation accuracy.

    Reads ``$.run.names.training_job``, ``$.run.hyperparameters``, ``$.run.channels``, ``$.run.model_output_uri``
    (the training task, see ``TrainingStep``). Writes ``$.training_job`` (the whole DescribeTrainingJob), then
    ``$.training`` (``job_name``, ``model_data_url``, ``values``) and ``$.gate.accuracy``. A failed job is described
    again for its FailureReason (``$.training_failure``); a job without a numeric validation:accuracy ends the run as
    ``MetricMissing``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, training: TrainingStep, failures: FailureHandler) -> None:
        super().__init__(scope, construct_id)
        train = failures.protect(training.task, "Train model", retry="sagemaker", then=training.failure_report(failures))
        # The training result is kept whole ($.training_job): FinalMetricDataList is optional in DescribeTrainingJob,
        # and a ResultSelector path that is missing would fail the execution with an uncatchable States.Runtime.
        read_accuracy = sfn.Pass(
            self,
            "Read validation accuracy",
            parameters={
                "job_name": sfn.JsonPath.string_at(TRAINING_JOB.TrainingJobName),
                "model_data_url": sfn.JsonPath.string_at(TRAINING_JOB.ModelArtifacts.S3ModelArtifacts),
                "values": sfn.JsonPath.list_at(VALIDATION_ACCURACY_VALUES),
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
        read_accuracy.next(has_metric)
        train.next(metrics_present)
        self._stage(train, [keep_accuracy])
