"""Policy statements several roles share, and the wording of the cdk-nag findings they raise.

Each construct writes its own role: it adds a statement with :func:`allow` and, in the same call, the cdk-nag
acknowledgments that statement needs, so an acknowledgment always sits next to the statement it explains. What
more than one role needs (the data key, container logs, the prebuilt image, the wording of the recurring
AwsSolutions-IAM5 findings) is written here once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.nag import acknowledge

LOGS_ARN = "logs:<AWS::Region>:<AWS::AccountId>:log-group:"
NO_FINDINGS: Mapping[str, str] = {}


def allow(
    role: iam.Role, statements: Iterable[iam.PolicyStatement], findings: Mapping[str, str] = NO_FINDINGS
) -> None:
    """Add ``statements`` to ``role``'s default policy and acknowledge ``findings`` (rule id -> reason) on it."""
    for statement in statements:
        role.add_to_policy(statement)
    for rule_id, reason in findings.items():
        acknowledge(role.node.find_child("DefaultPolicy"), rule_id, reason)


# --- statements -----------------------------------------------------------------------------------------------------


def use_data_key_statement(key: kms.IKey) -> iam.PolicyStatement:
    """Encrypt and decrypt S3 objects with the data key."""
    return iam.PolicyStatement(
        sid="UseDataKey",
        actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
        resources=[key.key_arn],
    )


def data_key_statements(key: kms.IKey) -> list[iam.PolicyStatement]:
    """Use the data key for S3 objects; let SageMaker create grants on it for the training volume."""
    return [
        use_data_key_statement(key),
        iam.PolicyStatement(
            sid="GrantDataKeyToSageMaker",
            actions=["kms:CreateGrant"],
            resources=[key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        ),
    ]


def log_group_arn(scope: Construct, log_group_pattern: str) -> str:
    """ARN of the log groups named ``log_group_pattern`` in this account and region."""
    return Stack.of(scope).format_arn(
        service="logs", resource="log-group", resource_name=log_group_pattern, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )


def log_statement(scope: Construct, log_group_pattern: str) -> iam.PolicyStatement:
    """Write the container logs SageMaker sends to CloudWatch (its own log group names)."""
    return iam.PolicyStatement(
        sid="ContainerLogs",
        actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
        resources=[log_group_arn(scope, log_group_pattern)],
    )


def image_pull_statements(repository_arn: str, sid: str = "PullScikitLearnImage") -> list[iam.PolicyStatement]:
    """Pull the prebuilt image from ``repository_arn`` (the region's registry account only)."""
    return [
        iam.PolicyStatement(
            sid=sid,
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            resources=[repository_arn],
        ),
        iam.PolicyStatement(
            sid="EcrAuthorization",
            actions=["ecr:GetAuthorizationToken"],
            resources=["*"],  # GetAuthorizationToken has no resource type
        ),
        iam.PolicyStatement(
            sid="PutSageMakerMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],  # PutMetricData has no resource type; limited to SageMaker's namespaces
            conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*"]}},
        ),
    ]


# --- cdk-nag findings of those statements ----------------------------------------------------------------------------

_RUN_TIME_NAMES = (
    "objects are written and read under per-run prefixes (curated/<run_id>/..., models/<run_id>/...) whose "
    "run id is the Step Functions execution name, known only at run time; the prefix is the narrowest "
    "fixed scope and the bucket belongs to this project"
)


def objects_finding(bucket: s3.IBucket, pattern: str) -> str:
    """The AwsSolutions-IAM5 finding id of ``s3:...`` on ``<bucket>/<pattern>`` (a bucket of the data stack)."""
    return f"AwsSolutions-IAM5[Resource::{imported_reference(Stack.of(bucket), bucket.bucket_arn)}/{pattern}]"


def run_time_prefix_findings(bucket: s3.IBucket, patterns: Iterable[str]) -> dict[str, str]:
    """Findings of per-run object prefixes (``curated/*``, ``models/*``...), whose run id is known at run time only."""
    return {objects_finding(bucket, pattern): f"The {pattern[:-1]} {_RUN_TIME_NAMES}" for pattern in patterns}


def local_finding(arn: str) -> str:
    """The AwsSolutions-IAM5 finding id of a resource ``arn:<partition>:<arn>`` of this stack's account/region."""
    return f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:{arn}]"


def service_log_group_finding(log_group_pattern: str, service: str) -> dict[str, str]:
    """The finding of a service's own log group namespace (``/aws-glue/*``, ``/aws/sagemaker/...``)."""
    return {
        local_finding(LOGS_ARN + log_group_pattern): (
            f"{service} writes container logs to log groups and streams it names itself per job/endpoint at run "
            "time; the pattern is the service's own log group namespace in this account and region"
        )
    }


def no_resource_type_finding(what: str) -> dict[str, str]:
    """The ``Resource::*`` finding of actions that support no resource-level permissions (``what`` names them)."""
    return {
        "AwsSolutions-IAM5[Resource::*]": (
            f"Resource '*' only for {what}: these actions support no resource-level permissions (Service "
            "Authorization Reference); every other statement of this policy names its resources"
        )
    }


SAGEMAKER_CONTAINER_APIS = "cloudwatch:PutMetricData (namespace /aws/sagemaker/*) and ecr:GetAuthorizationToken"


def imported_reference(producer: Stack, token: str) -> str:
    """How cdk-nag prints ``token`` (an attribute of ``producer``) inside a finding of a consuming stack.

    With the ``@aws-cdk/core:defaultCrossStackReferences: weak`` flag of cdk.json, CDK turns a cross-stack reference
    into ``Fn::GetStackOutput`` of an output it adds to the producer under ``Publish/Output<resolved reference>``
    (aws-cdk-lib ``core/lib/private/refs.js``); the output's logical id is CDK's ``makeUniqueId`` of that path:
    the alphanumerics of the path components plus the first 8 hex digits (upper case) of the MD5 of the path.
    Computing it keeps acknowledgments exact without copying generated ids. If CDK changes the scheme, synthesis
    fails with ValidationFailed and prints the new finding ids.
    """
    component = "Output" + json.dumps(producer.resolve(token), separators=(",", ":"))
    path = f"Publish/{component}"
    digest = hashlib.md5(path.encode("utf-8")).hexdigest()[:8].upper()
    output_name = re.sub(r"[^A-Za-z0-9]", "", "Publish" + component) + digest
    reference = {
        "Fn::GetStackOutput": {
            "StackName": producer.stack_name,
            "Region": {"Ref": "AWS::Region"},
            "OutputName": output_name,
        }
    }
    return json.dumps(reference, separators=(",", ":"))
