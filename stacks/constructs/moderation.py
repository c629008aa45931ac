"""The moderation step's resources: the Lambda function that runs ``common/moderation.py`` and its role.

Why a Lambda function, not a Glue Python shell job like the publish job: the step is API calls, no data
processing, so it needs no DPU-minute minimum, and the Lambda runtime ships a current boto3 with
``DetectToxicContent`` (a recent Comprehend operation), whereas a Glue Python shell job runs the boto3 Glue
preinstalled for Python 3.9 unless it installs a newer one from PyPI at every start. The price is Lambda's 15-minute limit: the function stops
starting requests 90 s before it and records what it did not reach as "not checked (time limit ...)", and the
per-run limits (``moderation.max_text_records``, ``max_image_records``) keep a run well inside it at the default
``concurrency`` (docs/moderation.md gives the arithmetic). The code is ``moderation.py`` and ``pipeline_contracts.py``
of ``common/`` plus ``moderation_runtime/index.py``, staged into one folder at synth and shipped as a plain asset (no
Docker bundling), so the offline ``ds-on-aws score --moderation-results`` converts replies with the same code.

IAM: read ``scoring/*/input/*`` and write ``scoring/*/moderation/*`` of the curated bucket, read the images under
``moderation.image_prefix`` of the raw bucket (Rekognition reads an ``S3Object`` with the caller's permissions),
the data key, its own log group, and the two detection actions, which take no resource (acknowledged below).
"""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from pipeline_contracts import SCORING_PREFIX

from ds_on_aws.config import PROJECT_ROOT, ModerationConfig
from stacks.constructs import python_function
from stacks.constructs.policies import allow, objects_finding, run_time_prefix_findings, use_data_key_statement

RUNTIME_DIR = Path(__file__).resolve().parent / "moderation_runtime"
SHARED_MODULES = ("moderation.py", "pipeline_contracts.py")
STAGING_DIR = PROJECT_ROOT / ".cache" / "moderation_runtime"
LAMBDA_TIMEOUT = Duration.minutes(15)
DETECTION_ACTIONS = ("comprehend:DetectToxicContent", "rekognition:DetectModerationLabels")


def stage_runtime(destination: Path = STAGING_DIR) -> Path:
    """``index.py`` and the shared modules in one folder (the function's asset); byte-identical for the same code."""
    return python_function.stage_runtime(RUNTIME_DIR, SHARED_MODULES, destination)


class ModerationResources(Construct):
    """``function``: moderates one scoring run (``{"run_id"}``) and returns the step's result."""

    def __init__(self, scope: Construct, construct_id: str, *, config: ModerationConfig, key: kms.IKey,
                 raw_bucket: s3.IBucket, curated_bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.log_group = python_function.function_log_group(self, "Logs", key)
        self.role = self._role(key, raw_bucket, curated_bucket)
        self.function = python_function.python_function(
            self,
            "Function",
            runtime_dir=RUNTIME_DIR,
            shared_modules=SHARED_MODULES,
            role=self.role,
            log_group=self.log_group,
            timeout=LAMBDA_TIMEOUT,
            description="ds-on-aws: moderates a scoring run (Comprehend toxicity, Rekognition moderation labels)",
            environment={
                "CURATED_BUCKET": curated_bucket.bucket_name,
                "RAW_BUCKET": raw_bucket.bucket_name,
                "KMS_KEY_ARN": key.key_arn,
                "MODERATION": json.dumps(config.as_settings(), sort_keys=True),
            },
        )

    def _role(self, key: kms.IKey, raw: s3.IBucket, curated: s3.IBucket) -> iam.Role:
        role = iam.Role(self, "FunctionRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description="ds-on-aws moderation function: toxicity and image moderation of a scoring run")
        input_objects, output_objects = f"{SCORING_PREFIX}*/input/*", f"{SCORING_PREFIX}*/moderation/*"
        allow(role, [
            iam.PolicyStatement(sid="ReadScoringInput", actions=["s3:GetObject"],
                                resources=[curated.arn_for_objects(input_objects)]),
            iam.PolicyStatement(sid="ListScoringInput", actions=["s3:ListBucket"], resources=[curated.bucket_arn],
                                conditions={"StringLike": {"s3:prefix": [f"{SCORING_PREFIX}*"]}}),
            iam.PolicyStatement(sid="WriteModerationResults", actions=["s3:PutObject"],
                                resources=[curated.arn_for_objects(output_objects)]),
            use_data_key_statement(key),
            iam.PolicyStatement(sid="WriteOwnLogs", actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                resources=[self.log_group.log_group_arn]),
        ], run_time_prefix_findings(curated, [input_objects, output_objects]))
        self._detection_grants(role, raw)
        return role

    def _detection_grants(self, role: iam.Role, raw: s3.IBucket) -> None:
        """The detection actions that are switched on, and the images Rekognition reads as this role."""
        c = self.config
        actions = [a for a, on in zip(DETECTION_ACTIONS, (c.toxicity, c.images), strict=True) if on]
        if not actions:
            return
        statements = [iam.PolicyStatement(sid="DetectModeration", actions=actions, resources=["*"])]
        findings = {"AwsSolutions-IAM5[Resource::*]": (
            f"Resource '*' only for {' and '.join(actions)}: these synchronous detection calls on the services' "
            "own models take no resource (Service Authorization Reference: no resource type without a custom "
            "adapter or endpoint, neither of which is used); every other statement of this policy names its resources"
        )}
        if c.images:
            images = f"{c.image_prefix}*"
            statements.append(iam.PolicyStatement(sid="ReadImagesForRekognition", actions=["s3:GetObject"],
                                                  resources=[raw.arn_for_objects(images)]))
            findings[objects_finding(raw, images)] = (
                f"Rekognition reads each record's image from the raw bucket with this role's permissions; images "
                f"are whatever users upload under moderation.image_prefix {c.image_prefix}, named at run time")
        allow(role, statements, findings)
