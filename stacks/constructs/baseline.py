"""The managed baseline's resources: the Lambda function that prepares and evaluates, and Comprehend's role.

Why a Lambda function: preparing Comprehend's input (read the gzip JSON Lines split, sample, shorten to 5,120 bytes)
and reading its output archive (a tar.gz) are a few seconds of standard-library Python each; a Glue Python shell job
would take a minute to start and bill a minute at least, and the Step Functions intrinsics cannot decompress. The
code is the standard-library modules of ``common/`` (``comprehend_baseline``, ``run_cost``, ``evaluation_report``,
``pipeline_contracts``) plus ``baseline_runtime/index.py``, staged into one folder at synth and shipped as a plain
asset (no Docker bundling; boto3 comes with the Lambda runtime), so the offline runner and the function run the
same code.

IAM: the function reads ``curated/*`` (the validation split of the run), reads and writes ``baseline/*``, reads the
training output under ``models/*`` and writes only ``models/*/evaluation.json``, and may call ``glue:GetJobRun`` on
the cleaning job. Comprehend's data-access role (trusted by comprehend.amazonaws.com from this account only) reads
``baseline/*/input/*``, writes ``baseline/*/output/*`` and uses the data key; nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ds_on_aws.config import PROJECT_ROOT, PipelineConfig
from stacks.constructs import python_function
from stacks.constructs.policies import allow, objects_finding, run_time_prefix_findings, use_data_key_statement

RUNTIME_DIR = Path(__file__).resolve().parent / "baseline_runtime"
SHARED_MODULES = ("comprehend_baseline.py", "run_cost.py", "evaluation_report.py", "pipeline_contracts.py")
STAGING_DIR = PROJECT_ROOT / ".cache" / "baseline_runtime"
LAMBDA_TIMEOUT = Duration.minutes(3)


def stage_runtime(destination: Path = STAGING_DIR) -> Path:
    """``index.py`` and the shared modules in one folder (the function's asset); byte-identical for the same code."""
    return python_function.stage_runtime(RUNTIME_DIR, SHARED_MODULES, destination)


class BaselineResources(Construct):
    """``function`` (prepare / evaluate) and ``comprehend_role`` (the job's data-access role)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        key: kms.IKey,
        curated_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        glue_job: glue.IJob,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        self.comprehend_role = self._comprehend_role(key, artifacts_bucket)
        self.log_group = python_function.function_log_group(self, "Logs", key)
        self.role = self._function_role(key, curated_bucket, artifacts_bucket, glue_job)
        e = config.endpoint
        self.function = python_function.python_function(
            self,
            "Function",
            runtime_dir=RUNTIME_DIR,
            shared_modules=SHARED_MODULES,
            role=self.role,
            log_group=self.log_group,
            timeout=LAMBDA_TIMEOUT,
            description="ds-on-aws: prepares the Comprehend baseline's input and writes the run's evaluation report",
            environment={
                "CURATED_BUCKET": curated_bucket.bucket_name,
                "ARTIFACTS_BUCKET": artifacts_bucket.bucket_name,
                "GLUE_JOB_NAME": glue_job.job_name,
                "SAMPLE_SIZE": str(config.baseline.sample_size),
                "PRICES": json.dumps(config.prices.as_dict(), sort_keys=True),
                "ENDPOINT": json.dumps(
                    {"mode": e.mode, "serverless_memory_mb": e.serverless_memory_mb, "instance_type": e.instance_type,
                     "initial_instance_count": e.initial_instance_count}, sort_keys=True),
            },
        )

    def _comprehend_role(self, key: kms.IKey, artifacts: s3.IBucket) -> iam.Role:
        """Read the baseline input, write the baseline output, use the data key (volume and output)."""
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "ComprehendDataAccessRole",
            assumed_by=iam.ServicePrincipal(
                "comprehend.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": stack.format_arn(
                        service="comprehend", resource="sentiment-detection-job", resource_name="*")},
                },
            ),
            description="Amazon Comprehend: read the baseline input and write its output (review-sentiment pipeline)",
        )
        allow(
            role,
            [
                iam.PolicyStatement(sid="ReadBaselineInput", actions=["s3:GetObject"],
                                    resources=[artifacts.arn_for_objects("baseline/*/input/*")]),
                iam.PolicyStatement(sid="ListBaselineInput", actions=["s3:ListBucket"],
                                    resources=[artifacts.bucket_arn],
                                    conditions={"StringLike": {"s3:prefix": ["baseline/*"]}}),
                iam.PolicyStatement(sid="WriteBaselineOutput", actions=["s3:PutObject"],
                                    resources=[artifacts.arn_for_objects("baseline/*/output/*")]),
                use_data_key_statement(key),
                iam.PolicyStatement(sid="GrantDataKeyToComprehend", actions=["kms:CreateGrant"],
                                    resources=[key.key_arn],
                                    conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}}),
            ],
            run_time_prefix_findings(artifacts, ["baseline/*/input/*", "baseline/*/output/*"]),
        )
        return role

    def _function_role(self, key: kms.IKey, curated: s3.IBucket, artifacts: s3.IBucket,
                       glue_job: glue.IJob) -> iam.Role:
        role = iam.Role(self, "FunctionRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description="ds-on-aws baseline function: prepare Comprehend input, write evaluation reports")
        allow(
            role,
            [
                iam.PolicyStatement(sid="ReadCuratedSplits", actions=["s3:GetObject"],
                                    resources=[curated.arn_for_objects("curated/*")]),
                iam.PolicyStatement(sid="ListCuratedSplits", actions=["s3:ListBucket"], resources=[curated.bucket_arn],
                                    conditions={"StringLike": {"s3:prefix": ["curated/*"]}}),
                iam.PolicyStatement(sid="ReadTrainingOutputAndBaseline", actions=["s3:GetObject"],
                                    resources=[artifacts.arn_for_objects("models/*"),
                                               artifacts.arn_for_objects("baseline/*")]),
                iam.PolicyStatement(sid="ListBaseline", actions=["s3:ListBucket"], resources=[artifacts.bucket_arn],
                                    conditions={"StringLike": {"s3:prefix": ["baseline/*"]}}),
                iam.PolicyStatement(sid="WriteBaselineAndEvaluation", actions=["s3:PutObject"],
                                    resources=[artifacts.arn_for_objects("baseline/*"),
                                               artifacts.arn_for_objects("models/*/evaluation.json")]),
                use_data_key_statement(key),
                iam.PolicyStatement(sid="ReadGlueJobRun", actions=["glue:GetJobRun"], resources=[glue_job.job_arn]),
                iam.PolicyStatement(sid="WriteOwnLogs", actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                    resources=[self.log_group.log_group_arn]),
            ],
            {
                **run_time_prefix_findings(curated, ["curated/*"]),
                **run_time_prefix_findings(artifacts, ["models/*", "baseline/*"]),
                objects_finding(artifacts, "models/*/evaluation.json"): (
                    "The evaluation report is written beside each run's model (models/<run_id>/evaluation.json); the "
                    "run id is the Step Functions execution name, known only at run time, and only that object name "
                    "may be written"
                ),
            },
        )
        return role
