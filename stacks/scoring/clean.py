"""Clean for scoring: the training pipeline's cleaning job in score mode, run to completion."""

from __future__ import annotations

from aws_cdk import aws_glue as glue
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from pipeline_contracts import SCORE_MODE

from stacks.constructs.notifications import FailureHandler
from stacks.scoring.state import GLUE, RUN
from stacks.state_machine.fragment import Stage
from stacks.state_machine.state import answer


class CleanForScoring(Stage):
    """Clean feedback (Glue ``.sync``, ``--mode score``).

    Reads ``$.run.input_s3_uri`` and ``$.run.run_id``; writes ``$.glue`` (``job_run_id``, ``state``). The job writes
    ``scoring/<run_id>/input/`` (JSON Lines ``{review_id, text, <context columns>}``), the quarantine, the duplicates and
    ``reports/<run_id>/data_quality.json``; it fails (and so does the run) when its data-quality gate refuses.
    ``--min_rows`` is the scoring run's own minimum (``scoring.min_rows``): a week's feedback may be small;
    ``--context_columns`` (``scoring.context_columns``) the input columns carried to the predictions table.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        glue_job: glue.IJob,
        min_rows: int,
        context_columns: tuple[str, ...],
        failures: FailureHandler,
    ) -> None:
        super().__init__(scope, construct_id)
        clean = failures.protect(
            tasks.GlueStartJobRun(
                self,
                "Clean feedback",
                comment="Glue job in score mode: clean, dedup, quarantine; fails when the data-quality gate refuses.",
                glue_job_name=glue_job.job_name,
                integration_pattern=sfn.IntegrationPattern.RUN_JOB,
                arguments=sfn.TaskInput.from_object(
                    {
                        "--input_uri": sfn.JsonPath.string_at(RUN.input_s3_uri),
                        "--run_id": sfn.JsonPath.string_at(RUN.run_id),
                        "--mode": SCORE_MODE,
                        "--min_rows": str(min_rows),
                        "--context_columns": ",".join(context_columns),
                    }
                ),
                result_selector={
                    "job_run_id": sfn.JsonPath.string_at(answer("Id")),
                    "state": sfn.JsonPath.string_at(answer("JobRunState")),
                },
                result_path=GLUE,
            ),
            "Clean feedback",
            retry="glue",
        )
        self._stage(clean, [clean])
