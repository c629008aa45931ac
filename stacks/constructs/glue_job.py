"""The Glue cleaning job (``glue_scripts/clean_reviews.py`` + the ``review_cleaning`` package) with its role and security
configuration.

Code: the entry script, and as ``--extra-py-files`` the package as a zip built deterministically at synth time
(``ds_on_aws.packaging.build_glue_package``, so its asset hash changes only when the code does) and the two shared
modules ``review_text.py`` and ``pipeline_contracts.py``.

Per-run arguments (``--input_uri``, ``--run_id``) come from the state machine; everything else is a default argument
here: the curated bucket root and the data-quality thresholds of ``cdk.json`` (``DataQualityConfig``), so the gate
that runs on AWS is the gate the offline runner applies.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct
from pipeline_contracts import CURATED_OUTPUT_PREFIXES

from ds_on_aws.config import PROJECT_ROOT, DataQualityConfig, GlueConfig
from ds_on_aws.packaging import build_glue_package
from stacks.constructs.policies import (
    allow,
    log_group_arn,
    no_resource_type_finding,
    objects_finding,
    run_time_prefix_findings,
    service_log_group_finding,
    use_data_key_statement,
)

GLUE_SCRIPT = PROJECT_ROOT / "glue_scripts" / "clean_reviews.py"
SHARED_MODULES = (PROJECT_ROOT / "common" / "review_text.py", PROJECT_ROOT / "common" / "pipeline_contracts.py")
GLUE_PACKAGE_BUILD_DIR = PROJECT_ROOT / ".cache" / "glue"
GLUE_VERSIONS = {"5.0": glue.GlueVersion.V5_0, "5.1": glue.GlueVersion.V5_1, "6.0": glue.GlueVersion.V6_0}
WORKER_TYPES = {
    "G.025X": glue.WorkerType.G_025X,
    "G.1X": glue.WorkerType.G_1X,
    "G.2X": glue.WorkerType.G_2X,
    "G.4X": glue.WorkerType.G_4X,
    "G.8X": glue.WorkerType.G_8X,
}


def glue_version(name: str) -> glue.GlueVersion:
    """The L2 Glue version for ``cdk.json``'s ``glue.glue_version`` (5.x or newer: Spark 3.5, Python 3.11)."""
    try:
        return GLUE_VERSIONS[name]
    except KeyError:
        raise ValueError(
            f"ds-on-aws.glue.glue_version: unsupported {name!r}; supported: {sorted(GLUE_VERSIONS)}"
        ) from None


def worker_type(name: str) -> glue.WorkerType:
    try:
        return WORKER_TYPES[name]
    except KeyError:
        raise ValueError(
            f"ds-on-aws.glue.worker_type: unsupported {name!r}; supported: {sorted(WORKER_TYPES)}"
        ) from None


def default_arguments(curated_bucket_name: str, data_quality: DataQualityConfig) -> dict[str, str]:
    """Job default arguments: curated root and data-quality thresholds; bookmarks off (each run owns its prefix)."""
    return {
        "--curated_uri": f"s3://{curated_bucket_name}/",
        "--job-bookmark-option": "job-bookmark-disable",
        **data_quality.as_job_arguments(),
    }


class CleaningJob(Construct):
    """``PySparkEtlJob`` running the cleaning script, least-privilege role, KMS security configuration."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: GlueConfig,
        data_quality: DataQualityConfig,
        key: kms.IKey,
        raw_bucket: s3.IBucket,
        raw_prefix: str,
        curated_bucket: s3.IBucket,
        project_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        # The script, the shared modules and the package zip as file assets, referenced with Code.from_bucket: the
        # same upload Code.from_asset does, but the role gets s3:GetObject on exactly these objects instead of the
        # L2's s3:GetObject*/GetBucket*/List* on the whole CDK assets bucket.
        self.script = s3_assets.Asset(self, "Script", path=str(GLUE_SCRIPT))
        self.shared_module = s3_assets.Asset(self, "SharedModule", path=str(SHARED_MODULES[0]))
        self.contracts_module = s3_assets.Asset(self, "ContractsModule", path=str(SHARED_MODULES[1]))
        self.package = s3_assets.Asset(self, "Package", path=str(build_glue_package(GLUE_PACKAGE_BUILD_DIR)))
        self.python_files = (self.shared_module, self.contracts_module, self.package)
        self.role = self._role(key, raw_bucket, raw_prefix, curated_bucket)
        self.security_configuration = glue.SecurityConfiguration(
            self,
            "SecurityConfiguration",
            cloud_watch_encryption=glue.CloudWatchEncryption.kms(key),
            job_bookmarks_encryption=glue.JobBookmarksEncryption.client_side_kms(key),
            s3_encryption=glue.S3Encryption.kms(key),
        )
        self.job = glue.PySparkEtlJob(
            self,
            "Job",
            job_name=f"{project_name}-clean-reviews",
            description="Cleans raw reviews into curated train/validation/test splits behind a data-quality gate",
            glue_version=glue_version(config.glue_version),
            script=glue.Code.from_bucket(self.script.bucket, self.script.s3_object_key),
            extra_python_files=[glue.Code.from_bucket(asset.bucket, asset.s3_object_key) for asset in self.python_files],
            role=self.role.without_policy_updates(),
            worker_configuration=glue.WorkerConfiguration(
                worker_type=worker_type(config.worker_type), number_of_workers=config.number_of_workers
            ),
            timeout=Duration.minutes(config.timeout_minutes),
            max_retries=config.max_retries,
            max_concurrent_runs=3,
            security_configuration=self.security_configuration,
            continuous_logging=glue.ContinuousLoggingProps(enabled=True),
            enable_metrics=True,
            default_arguments=default_arguments(curated_bucket.bucket_name, data_quality),
        )
        self.job_name: str = self.job.job_name
        self.job_arn: str = self.job.job_arn

    def _role(self, key: kms.IKey, raw: s3.IBucket, raw_prefix: str, curated: s3.IBucket) -> iam.Role:
        """Read the raw prefix, write the curated output prefixes, use the key, write Glue logs and metrics."""
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="Glue cleaning job of the review-sentiment pipeline",
        )
        allow(role, _read_raw_statements(raw, raw_prefix), {
            objects_finding(raw, f"{raw_prefix}*"): (
                f"Uploads are read from the raw prefix {raw_prefix}, whatever their file names"
            )
        })
        outputs = [f"{prefix}*" for prefix in CURATED_OUTPUT_PREFIXES]
        allow(role, _write_curated_statements(curated, outputs), run_time_prefix_findings(curated, outputs))
        code_objects = [asset.bucket.arn_for_objects(asset.s3_object_key) for asset in (self.script, *self.python_files)]
        allow(
            role,
            [
                iam.PolicyStatement(sid="ReadCode", actions=["s3:GetObject"], resources=code_objects),
                use_data_key_statement(key),
            ],
        )
        allow(
            role,
            [
                iam.PolicyStatement(
                    sid="GlueLogs",
                    actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"],
                    resources=[log_group_arn(self, "/aws-glue/*")],
                )
            ],
            service_log_group_finding("/aws-glue/*", "Glue"),
        )
        allow(
            role,
            [
                iam.PolicyStatement(
                    sid="GlueMetrics",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],  # PutMetricData has no resource type; limited to the Glue namespace
                    conditions={"StringEquals": {"cloudwatch:namespace": "Glue"}},
                )
            ],
            no_resource_type_finding("cloudwatch:PutMetricData (condition: namespace Glue)"),
        )
        return role


def _read_raw_statements(raw: s3.IBucket, raw_prefix: str) -> list[iam.PolicyStatement]:
    return [
        iam.PolicyStatement(sid="ReadRaw", actions=["s3:GetObject"], resources=[raw.arn_for_objects(f"{raw_prefix}*")]),
        iam.PolicyStatement(
            sid="ListRaw",
            actions=["s3:ListBucket"],
            resources=[raw.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{raw_prefix}*"]}},
        ),
    ]


def _write_curated_statements(curated: s3.IBucket, outputs: list[str]) -> list[iam.PolicyStatement]:
    return [
        iam.PolicyStatement(
            sid="WriteCurated",
            actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            resources=[curated.arn_for_objects(output) for output in outputs],
        ),
        iam.PolicyStatement(
            sid="ListCurated",
            actions=["s3:ListBucket"],
            resources=[curated.bucket_arn],
            conditions={"StringLike": {"s3:prefix": outputs}},
        ),
    ]
