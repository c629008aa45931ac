"""Score: SageMaker Batch Transform over the cleaned records, each prediction joined to its record.

The task is written as raw state JSON (``CustomState``) on the optimized ``sagemaker:createTransformJob.sync``
integration: CDK's ``SageMakerCreateTransformJob`` has no ``DataProcessing`` (so no InputFilter/JoinSource/
OutputFilter) and creates a role with a managed policy unless given one; Step Functions itself passes the
CreateTransformJob request through, ``DataProcessing`` included.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_kms as kms
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ds_on_aws.config import ScoringConfig
from stacks.constructs.notifications import FailureHandler
from stacks.scoring.state import MODEL, RUN, TRANSFORM
from stacks.state_machine.fragment import Stage

JSON_LINES = "application/jsonlines"
# Batch Transform's record handling (docs/architecture.md, "Scoring"): the model sees only the text of each line,
# its answer line is joined to the input record, and the output keeps the whole record (id, text, the context
# columns the cleaning carried) and the answer under SageMakerOutput.
DATA_PROCESSING = {
    "InputFilter": "$.text",
    "JoinSource": "Input",
    "OutputFilter": "$",
}
MIB = 1024 * 1024


def transform_parameters(config: ScoringConfig, key: kms.IKey) -> dict:
    """The CreateTransformJob request, in the API's shape (``.$`` keys read the state document)."""
    return {
        "TransformJobName.$": RUN.names.transform_job,
        "ModelName.$": MODEL.name,
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": config.max_payload_mb,
        "MaxConcurrentTransforms": config.max_concurrent_transforms,
        "ModelClientConfig": {
            "InvocationsTimeoutInSeconds": config.invocation_timeout_seconds,
            "InvocationsMaxRetries": 1,
        },
        # The handlers refuse bodies beyond their limit: let them take what Batch Transform sends.
        "Environment": {"SENTIMENT_MAX_BODY_BYTES": str(config.max_payload_mb * MIB)},
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri.$": RUN.scoring_input_uri}},
            "ContentType": JSON_LINES,
            "SplitType": "Line",
            "CompressionType": "None",
        },
        "TransformOutput": {
            "S3OutputPath.$": RUN.transform_output_uri,
            "Accept": JSON_LINES,
            "AssembleWith": "Line",
            "KmsKeyId": key.key_arn,
        },
        "TransformResources": {
            "InstanceType": config.instance_type,
            "InstanceCount": config.instance_count,
            "VolumeKmsKeyId": key.key_arn,
        },
        "DataProcessing": dict(DATA_PROCESSING),
        "Tags.$": RUN.tags,
    }


class ScoreWithBatchTransform(Stage):
    """Score with Batch Transform (SageMaker ``.sync``).

    Reads ``$.run.names.transform_job``, ``$.model.name``, ``$.run.scoring_input_uri``,
    ``$.run.transform_output_uri`` and ``$.run.tags``; writes ``$.transform`` (``job_name``, ``status``,
    ``output``). A failed or stopped job fails the run with its DescribeTransformJob (FailureReason included).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: ScoringConfig, key: kms.IKey, failures: FailureHandler
    ) -> None:
        super().__init__(scope, construct_id)
        transform = sfn.CustomState(
            self,
            "Score with Batch Transform",
            state_json={
                "Type": "Task",
                "Comment": "Batch Transform with the model, one prediction per cleaned record, joined to the record.",
                "Resource": f"arn:{Aws.PARTITION}:states:::sagemaker:createTransformJob.sync",
                "Parameters": transform_parameters(config, key),
                "ResultSelector": {
                    "job_name.$": "$.TransformJobName",
                    "status.$": "$.TransformJobStatus",
                    "output.$": "$.TransformOutput.S3OutputPath",
                },
                "ResultPath": TRANSFORM,
            },
        )
        failures.protect(transform, "Score with Batch Transform", retry="sagemaker")
        self._stage(transform, [transform])
