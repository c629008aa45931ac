"""Train: the SageMaker training job, run to completion, and its validation accuracy."""

from __future__ import annotations

from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.constructs.notifications import FailureHandler
from stacks.constructs.training import TrainingStep
from stacks.state_machine.fragment import Stage
from stacks.state_machine.state import (
    GATE,
    RUN,
    SERVING,
    TRAINING,
    TRAINING_JOB,
    TRANSFORMER,
    VALIDATION_ACCURACY_VALUES,
    first,
)


class TrainModel(Stage):
    """Train model (SageMaker ``.sync``) -> Metrics reported? -> Read validation accuracy -> Accuracy reported?
    -> Keep validation accuracy.

    Reads ``$.run.names.training_job``, ``$.run.hyperparameters``, ``$.run.channels``, ``$.run.model_output_uri``
    (the training task, see ``TrainingStep``). Writes ``$.training_job`` (the whole DescribeTrainingJob), then
    ``$.training`` (``job_name``, ``model_data_url``, ``values``) and ``$.gate.accuracy``. A failed job is described
    again for its FailureReason (``$.training_failure``); a job without a numeric validation:accuracy ends the run as
    ``MetricMissing``.

    With the transformer recipe (``transformer``): "Which recipe?" on ``$.run.recipe`` first; ``transformer`` goes
    through "Locate pretrained weights" (``$.transformer.pretrained_uri``) -> "Fine-tune transformer" (GPU, managed
    spot, checkpoints; the same failure report) instead of "Train model". Each branch then records the serving image
    of its recipe in ``$.serving.image`` ("Serve with ... image"), which "Create model" deploys.
    """

    def __init__(self, scope: Construct, construct_id: str, *, training: TrainingStep, failures: FailureHandler,
                 transformer=None, linear_serving_image: str | None = None) -> None:
        super().__init__(scope, construct_id)
        report = training.failure_report(failures)
        train = failures.protect(training.task, "Train model", retry="sagemaker", then=report)
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
        if transformer is None:
            train.next(metrics_present)
            self._stage(train, [keep_accuracy])
            return
        start = self._choose_recipe(train, transformer, failures, report, metrics_present, linear_serving_image)
        self._stage(start, [keep_accuracy])

    def _choose_recipe(self, train, transformer, failures: FailureHandler, report, metrics_present,
                       linear_serving_image: str) -> sfn.Choice:
        """Which recipe? -> (transformer) Locate pretrained weights -> Fine-tune transformer, or Train model."""
        locate = sfn.Pass(
            self, "Locate pretrained weights",
            comment="The staged weights of model_name (ds-on-aws stage-model): the job's pretrained channel.",
            parameters={"pretrained_uri": sfn.JsonPath.format(
                transformer.pretrained_root + "{}/",
                sfn.JsonPath.string_at(f"{RUN.transformer_hyperparameters}.model_name"))},
            result_path=TRANSFORMER,
        )
        fine_tune = failures.protect(transformer.task, "Fine-tune transformer", retry="sagemaker", then=report)
        serve_linear = sfn.Pass(self, "Serve with the scikit-learn image", result_path=SERVING,
                                parameters={"image": linear_serving_image})
        serve_transformer = sfn.Pass(self, "Serve with the transformer image", result_path=SERVING,
                                     parameters={"image": transformer.serving_image_uri})
        locate.next(fine_tune).next(serve_transformer).next(metrics_present)
        train.next(serve_linear).next(metrics_present)
        return (
            sfn.Choice(self, "Which recipe?")
            .when(sfn.Condition.string_equals(RUN.recipe, "transformer"), locate)
            .otherwise(train)
        )
