"""Clean: the Glue job, run to completion; it fails when the data-quality gate refuses the data."""

from __future__ import annotations

from aws_cdk import aws_glue as glue
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.constructs.notifications import FailureHandler
from stacks.state_machine.fragment import Stage
from stacks.state_machine.state import GLUE, RUN, answer


class CleanReviews(Stage):
    """Clean reviews (Glue ``.sync``).

    Reads ``$.run.raw_s3_uri`` and ``$.run.run_id`` (the job's ``--input_uri`` and ``--run_id``); writes ``$.glue``
    (``job_run_id``, ``state``).
    """

    def __init__(self, scope: Construct, construct_id: str, *, glue_job: glue.IJob, failures: FailureHandler) -> None:
        super().__init__(scope, construct_id)
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
        self._stage(clean, [clean])
