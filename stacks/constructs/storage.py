"""The pipeline's S3 buckets: one construct per bucket kind, so every data bucket gets the same guarantees.

A data bucket (raw, curated, artifacts) is KMS-encrypted with the stack's customer managed key (S3 Bucket Key on, to
cut KMS request costs), SSL-only (TLS 1.2+), versioned, fully private, server-access-logged into the access-logs
bucket under its own prefix, and expires noncurrent versions and incomplete multipart uploads. The access-logs bucket
itself can only use SSE-S3 (see ``AccessLogsBucket``).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ds_on_aws.config import StorageConfig


def removal_policy(retain: bool) -> RemovalPolicy:
    """RETAIN keeps the data on ``cdk destroy``; DESTROY (opt-in via ``retain_data_on_destroy: false``) empties it."""
    return RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY


class AccessLogsBucket(Construct):
    """Target of the data buckets' server access logs.

    Encryption is SSE-S3 on purpose: the S3 User Guide states "You can use default bucket encryption on the target
    bucket only if you use server-side encryption with Amazon S3 managed keys (SSE-S3). Default server-side encryption
    with AWS Key Management Service (AWS KMS) keys (SSE-KMS) is not supported for server access logging target
    buckets." (https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html, section
    "Required permissions"; also troubleshooting-server-access-logging.html). Logs are kept on destroy (audit trail) and
    expire after ``access_logs_expiration_days``. The log delivery service is allowed in by a bucket policy scoped to
    the source buckets of this account (CDK's ``serverAccessLogsUseBucketPolicy`` feature flag), not by an ACL.
    It has no access logging of its own (that would loop); cdk-nag's S1 rule accepts a bucket that is the log target
    of another bucket in the stack, so no acknowledgment is needed.
    """

    def __init__(self, scope: Construct, construct_id: str, *, storage: StorageConfig) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(storage.access_logs_expiration_days),
                    noncurrent_version_expiration=Duration.days(storage.noncurrent_version_expiration_days),
                    abort_incomplete_multipart_upload_after=Duration.days(
                        storage.abort_incomplete_multipart_upload_days
                    ),
                )
            ],
        )


class DataBucket(Construct):
    """A KMS-encrypted, SSL-only, versioned, private, access-logged data bucket (raw, curated or artifacts)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        access_logs: s3.IBucket,
        log_prefix: str,
        storage: StorageConfig,
        retain: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=log_prefix,
            removal_policy=removal_policy(retain),
            # Emptying a bucket on destroy uses CDK's auto-delete custom resource (an inline Lambda, no Docker).
            auto_delete_objects=not retain,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=Duration.days(storage.noncurrent_version_expiration_days),
                    abort_incomplete_multipart_upload_after=Duration.days(
                        storage.abort_incomplete_multipart_upload_days
                    ),
                )
            ],
        )
