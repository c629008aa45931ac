"""The data stack: the KMS key, the four buckets of docs/architecture.md and the Glue Data Catalog entries.

It holds everything stateful, so the pipeline stack can be destroyed and redeployed freely while the data stays.
Data is retained on ``cdk destroy`` unless ``retain_data_on_destroy`` is false in cdk.json.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ds_on_aws.config import PipelineConfig
from stacks.constructs.catalog import ReviewsCatalog, database_name_for
from stacks.constructs.storage import AccessLogsBucket, DataBucket, removal_policy


class DataStack(Stack):
    """Key, buckets (raw, curated, artifacts, access logs) and the ``reviews`` catalog table.

    Attributes used by the pipeline stack: ``key``, ``raw_bucket``, ``curated_bucket``, ``artifacts_bucket``,
    ``access_logs_bucket``, ``glue_database_name``, ``reviews_table_name``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, **kwargs) -> None:
        super().__init__(
            scope, construct_id, description=f"{config.project_name}: data buckets, KMS key, catalog", **kwargs
        )
        self.config = config
        retain = config.retain_data_on_destroy

        self.key = kms.Key(
            self,
            "DataKey",
            alias=f"alias/{config.project_name}-data",
            description=f"{config.project_name}: encrypts data buckets, logs, SNS, Glue and SageMaker outputs",
            enable_key_rotation=True,
            # The key must outlive any data it encrypts: retained buckets stay readable after `cdk destroy`.
            removal_policy=removal_policy(retain),
            pending_window=Duration.days(7) if not retain else None,
        )
        self._allow_cloudwatch_logs(self.key)

        self._access_logs = AccessLogsBucket(self, "AccessLogs", storage=config.storage)
        self.access_logs_bucket = self._access_logs.bucket

        def data_bucket(construct_id: str, log_prefix: str):
            return DataBucket(
                self,
                construct_id,
                key=self.key,
                access_logs=self.access_logs_bucket,
                log_prefix=log_prefix,
                storage=config.storage,
                retain=retain,
            ).bucket

        self.raw_bucket = data_bucket("Raw", "raw/")
        if config.trigger_on_upload:
            self.send_raw_events_to_eventbridge()
        self.curated_bucket = data_bucket("Curated", "curated/")
        self.artifacts_bucket = data_bucket("Artifacts", "artifacts/")

        self.catalog = ReviewsCatalog(
            self,
            "Catalog",
            database_name=database_name_for(config.project_name),
            curated_bucket=self.curated_bucket,
        )
        self.glue_database_name: str = self.catalog.database_name
        self.reviews_table_name: str = self.catalog.table_name
        self._outputs()

    def send_raw_events_to_eventbridge(self) -> None:
        """S3 -> EventBridge delivery for the raw bucket, which the pipeline's optional upload trigger listens to.

        Idempotent: the pipeline stack calls it when its upload trigger is on, whatever this stack was built with,
        so the raw bucket's settings stay with the stack that owns the bucket.

        Set on the L1 (``NotificationConfiguration.EventBridgeConfiguration``) rather than with the L2's
        ``event_bridge_enabled``, which would add CDK's bucket-notifications custom-resource Lambda for a setting
        CloudFormation supports natively.
        """
        cfn_bucket = self.raw_bucket.node.default_child
        if cfn_bucket.notification_configuration is not None:  # type: ignore[union-attr]
            return
        cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(event_bridge_enabled=True)
        )

    def _allow_cloudwatch_logs(self, key: kms.Key) -> None:
        """Let CloudWatch Logs use the key for this account's log groups in this region (Glue, Step Functions, Lambda).

        CloudWatch Logs encrypts with the key as the service principal, so this must be in the key policy; the
        encryption-context condition limits it to log groups of this account and region.
        """
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],  # in a key policy "*" means this key
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:*"
                    }
                },
            )
        )

    def _outputs(self) -> None:
        raw_uri = f"s3://{self.raw_bucket.bucket_name}/{self.config.raw_prefix}"
        for name, value, description in (
            ("RawBucketName", self.raw_bucket.bucket_name, "Upload raw reviews here, under the raw prefix"),
            ("RawDataUri", raw_uri, "Where the pipeline reads raw data by default"),
            ("CuratedBucketName", self.curated_bucket.bucket_name, "Cleaned splits, quarantine, data-quality reports"),
            ("ArtifactsBucketName", self.artifacts_bucket.bucket_name, "Code assets, models, training output"),
            ("AccessLogsBucketName", self.access_logs_bucket.bucket_name, "S3 server access logs of the data buckets"),
            ("DataKeyArn", self.key.key_arn, "KMS key of the data, logs and notifications"),
            ("GlueDatabaseName", self.glue_database_name, "Glue Data Catalog database (query it with Athena)"),
            (
                "UploadCommand",
                f"aws s3 cp --recursive <folder with train.csv.gz> {raw_uri}",
                "Upload the IMDb files (or your own reviews) before starting a run",
            ),
            (
                "AthenaExampleQuery",
                f"SELECT split, label, count(*) FROM {self.glue_database_name}.{self.reviews_table_name} "
                "WHERE run_id = '<run id>' GROUP BY split, label",
                "Query one run's curated data (run_id is required: partition projection, injected)",
            ),
        ):
            CfnOutput(self, name, value=value, description=description)
