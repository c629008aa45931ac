"""Publish: the predictions table and the summary (the Glue Python shell job), then the notice with the summary."""

from __future__ import annotations

from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.constructs.notifications import FailureHandler, Notifications
from stacks.scoring.state import MODEL, MODERATION, PUBLISH, RUN, SUMMARY
from stacks.state_machine.fragment import Stage
from stacks.state_machine.state import answer


class PublishPredictions(Stage):
    """Publish predictions (Glue Python shell ``.sync``) -> Read scoring summary (S3 GetObject).

    Reads ``$.run.run_id``, ``$.model.name``, ``$.run.summary_key`` and, with moderation on, ``$.moderation``
    (passed as ``--moderation``, JSON); writes ``$.publish`` (``job_run_id``,
    ``state``) and ``$.summary.body`` (the summary JSON as text). The job writes
    ``tables/predictions/run_id=<run_id>/`` (Parquet, behind the catalog table ``predictions``) and
    ``reports/<run_id>/scoring_summary.json``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        publish_job: glue.IJob,
        curated: s3.IBucket,
        failures: FailureHandler,
        moderation: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        arguments = {"--run_id": sfn.JsonPath.string_at(RUN.run_id),
                     "--model_name": sfn.JsonPath.string_at(MODEL.name)}
        if moderation:
            arguments["--moderation"] = sfn.JsonPath.json_to_string(sfn.JsonPath.object_at(MODERATION))
        publish = failures.protect(
            tasks.GlueStartJobRun(
                self,
                "Publish predictions",
                comment="Glue Python shell: predictions joined with review ids -> Parquet partition + summary JSON.",
                glue_job_name=publish_job.job_name,
                integration_pattern=sfn.IntegrationPattern.RUN_JOB,
                arguments=sfn.TaskInput.from_object(arguments),
                result_selector={
                    "job_run_id": sfn.JsonPath.string_at(answer("Id")),
                    "state": sfn.JsonPath.string_at(answer("JobRunState")),
                },
                result_path=PUBLISH,
            ),
            "Publish predictions",
            retry="glue",
        )
        read = failures.protect(
            tasks.CallAwsService(
                self,
                "Read scoring summary",
                service="s3",
                action="getObject",
                iam_action="s3:GetObject",
                parameters={"Bucket": curated.bucket_name, "Key": sfn.JsonPath.string_at(RUN.summary_key)},
                iam_resources=[curated.arn_for_objects("reports/*")],
                result_selector={"body": sfn.JsonPath.string_at(answer("Body"))},
                result_path=SUMMARY,
            ),
            "Read scoring summary",
            retry="s3",
        )
        publish.next(read)
        self._stage(publish, [read])


class NotifyScored(Stage):
    """Notify scored -> Scored (Succeed): the notice carries where the results are and the whole summary.

    Reads ``$.run``, ``$.model.name`` and ``$.summary.body``; writes nothing.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        notifications: Notifications,
        database_name: str,
        failures: FailureHandler,
    ) -> None:
        super().__init__(scope, construct_id)
        notify = failures.protect(
            notifications.publish(
                self,
                "Notify scored",
                subject="ds-on-aws: feedback scored",
                message=sfn.TaskInput.from_text(
                    sfn.JsonPath.format(
                        "Scoring run {} scored {} with model {}. Predictions: {} (Athena: table "
                        f"{database_name}.predictions, partition run_id = the run id). Summary {{}}: {{}}",
                        sfn.JsonPath.string_at(RUN.run_id),
                        sfn.JsonPath.string_at(RUN.input_s3_uri),
                        sfn.JsonPath.string_at(MODEL.name),
                        sfn.JsonPath.string_at(RUN.predictions_uri),
                        sfn.JsonPath.string_at(RUN.summary_uri),
                        sfn.JsonPath.string_at(SUMMARY.body),
                    )
                ),
            ),
            "Notify scored",
            retry="sns",
        )
        notify.next(sfn.Succeed(self, "Scored"))
        self._stage(notify, [])
