"""The endpoint the hosting stages deploy: the model role, the production variant, the hosting constants.

The hosting states are the fragments ``CreateOrUpdateEndpoint``, ``WaitForEndpoint`` (stacks/state_machine/endpoint.py),
``SmokeTestAndRestore`` (smoke_test.py), ``RecordLiveModel`` and ``NotifyDeployed`` (finish.py).
"""

from __future__ import annotations

import json

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ds_on_aws.config import EndpointConfig
from ds_on_aws.sagemaker_jobs import endpoint_model_spec
from stacks.constructs.policies import (
    SAGEMAKER_CONTAINER_APIS,
    allow,
    image_pull_statements,
    log_statement,
    no_resource_type_finding,
    run_time_prefix_findings,
    service_log_group_finding,
)
from stacks.constructs.training import sklearn_repository_arn
from stacks.state_machine.state import (
    RUN,
)

ACCURACY_TAG = "ds-on-aws:validation-accuracy"
VARIANT_NAME = "AllTraffic"
WAITING_STATUSES = ("Creating", "Updating", "SystemUpdating", "RollingBack")
SMOKE_TEST_BODY = json.dumps(
    {"instances": ["A wonderful film, moving and beautifully acted.", "Dull, badly written and far too long."]}
)


def production_variant(config: EndpointConfig) -> dict:
    """The one production variant: serverless by default, instance-backed when ``endpoint.mode`` is ``instance``."""
    variant: dict = {"VariantName": VARIANT_NAME, "ModelName": sfn.JsonPath.string_at(RUN.names.model)}
    if config.mode == "serverless":
        variant["ServerlessConfig"] = {
            "MemorySizeInMB": config.serverless_memory_mb,
            "MaxConcurrency": config.serverless_max_concurrency,
        }
    else:
        variant.update(
            {
                "InstanceType": config.instance_type,
                "InitialInstanceCount": config.initial_instance_count,
                "InitialVariantWeight": 1,
            }
        )
    return variant


class EndpointDeployment(Construct):
    """What the hosting stages deploy with: the model role (and its acknowledgments), the model's spec, the image,
    the data key and the endpoints the state machine may touch (the configured name and ``<project>-*``).

    The hosting states themselves are the fragments of ``stacks/state_machine/`` (endpoint, smoke_test, finish).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EndpointConfig,
        key: kms.IKey,
        image_uri: str,
        artifacts_bucket: s3.IBucket,
        name_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.config = config
        self.key = key
        self.image_uri = image_uri
        self.model_spec = endpoint_model_spec(config.mode)
        self.model_role = self._model_role(scope, key, artifacts_bucket)
        # Set by serve_images_from_state: "Create model" deploys the image the training branch recorded.
        self.image_path: str | None = None
        self.endpoint_arns = [
            stack.format_arn(service="sagemaker", resource="endpoint", resource_name=config.name.lower()),
            stack.format_arn(service="sagemaker", resource="endpoint", resource_name=f"{name_prefix.lower()}*"),
        ]

    def serve_images_from_state(self, image_path: str, repository_arn: str) -> None:
        """Deploy the image at ``image_path`` (the recipe's serving image) and let the model pull from ``repository_arn``."""
        self.image_path = image_path
        # Only the pull statement: the model role already has the authorization and metrics statements.
        allow(self.model_role, image_pull_statements(repository_arn, sid="PullTransformerServingImage")[:1])

    @staticmethod
    def _model_role(scope: Construct, key: kms.IKey, artifacts: s3.IBucket) -> iam.Role:
        """Role the endpoint's model runs as: read its model.tar.gz (which carries the inference code), use the key,
        write logs, pull the image.

        Created in the state machine's scope (``<pipeline>/ModelRole``), where it has always been, so its logical
        ids stay as they are.
        """
        role = iam.Role(
            scope,
            "ModelRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker model (endpoint) of the review-sentiment pipeline",
        )
        allow(
            role,
            [iam.PolicyStatement(sid="ReadModels", actions=["s3:GetObject"], resources=[artifacts.arn_for_objects("models/*")])],
            run_time_prefix_findings(artifacts, ["models/*"]),
        )
        allow(
            role,
            [iam.PolicyStatement(sid="DecryptModels", actions=["kms:Decrypt", "kms:DescribeKey"], resources=[key.key_arn])],
        )
        allow(
            role,
            [log_statement(scope, "/aws/sagemaker/Endpoints/*")],
            service_log_group_finding("/aws/sagemaker/Endpoints/*", "SageMaker hosting"),
        )
        allow(role, image_pull_statements(sklearn_repository_arn(scope)), no_resource_type_finding(SAGEMAKER_CONTAINER_APIS))
        return role
