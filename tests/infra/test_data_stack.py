"""The data stack: key, buckets, catalog table and outputs, as synthesized with cdk.json's context.

Every property here is one a careless edit could break without any deployment failing: encryption, SSL-only,
versioning, public access, access-log destination, lifecycle, retention, and the catalog schema Athena relies on.
"""

from __future__ import annotations

import copy
import json

import pytest
from aws_cdk import App

from ds_on_aws.config import CONTEXT_KEY, load_config
from stacks.app_builder import DATA_STACK_ID
from stacks.constructs.catalog import PARTITION_KEYS, REVIEW_COLUMNS, SPLITS
from stacks.data_stack import DataStack
from stacks.nag import enable_nag_checks
from tests.cdk_support import synthesize_or_explain

DATA_BUCKETS = {"Raw": "raw/", "Curated": "curated/", "Artifacts": "artifacts/"}


def resources_of_type(template: dict, resource_type: str) -> dict[str, dict]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == resource_type}


def one(resources: dict[str, dict], logical_id_prefix: str) -> tuple[str, dict]:
    matches = [(lid, r) for lid, r in resources.items() if lid.startswith(logical_id_prefix)]
    assert len(matches) == 1, f"expected one resource named {logical_id_prefix}*, found {[m[0] for m in matches]}"
    return matches[0]


@pytest.fixture(scope="module")
def data_template(templates) -> dict:
    return templates[DATA_STACK_ID]


@pytest.fixture(scope="module")
def buckets(data_template) -> dict[str, tuple[str, dict]]:
    all_buckets = resources_of_type(data_template, "AWS::S3::Bucket")
    assert len(all_buckets) == 4, sorted(all_buckets)
    return {name: one(all_buckets, f"{name}Bucket") for name in (*DATA_BUCKETS, "AccessLogs")}


@pytest.fixture(scope="module")
def key_logical_id(data_template) -> str:
    keys = resources_of_type(data_template, "AWS::KMS::Key")
    assert len(keys) == 1
    return next(iter(keys))


def policy_statements_of(template: dict, bucket_logical_id: str) -> list[dict]:
    policies = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in resources_of_type(template, "AWS::S3::BucketPolicy").values()
        if r["Properties"]["Bucket"] == {"Ref": bucket_logical_id}
    ]
    assert len(policies) == 1, f"{bucket_logical_id}: expected exactly one bucket policy"
    return policies[0]


# --- key ------------------------------------------------------------------------------------------------------------


def test_data_key_rotates_is_retained_and_lets_only_this_accounts_log_groups_use_it(data_template, key_logical_id):
    key = data_template["Resources"][key_logical_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain" and key["UpdateReplacePolicy"] == "Retain"
    logs = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "AllowCloudWatchLogsOfThisAccount"
    ]
    assert len(logs) == 1
    condition = json.dumps(logs[0]["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])
    assert "AWS::AccountId" in condition and "AWS::Region" in condition and "log-group:*" in condition
    assert not any(a in ("kms:*", "*") for a in logs[0]["Action"])


def test_data_key_trusts_no_service_but_cloudwatch_logs(data_template, key_logical_id):
    """Other services (EventBridge's notice, SageMaker, Glue) use the key through IAM roles of this account."""
    key = data_template["Resources"][key_logical_id]
    services = [s["Principal"]["Service"] for s in key["Properties"]["KeyPolicy"]["Statement"] if "Service" in s["Principal"]]
    assert len(services) == 1 and json.dumps(services[0]).startswith('{"Fn::Join"') and "logs." in json.dumps(services[0])


# --- data buckets ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(DATA_BUCKETS))
def test_data_bucket_is_kms_encrypted_with_the_stack_key_and_bucket_key(buckets, key_logical_id, name):
    props = buckets[name][1]["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": [key_logical_id, "Arn"]}
    assert rule["BucketKeyEnabled"] is True


@pytest.mark.parametrize("name", [*DATA_BUCKETS, "AccessLogs"])
def test_every_bucket_is_versioned_private_and_owner_enforced(buckets, name):
    props = buckets[name][1]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


@pytest.mark.parametrize("name", [*DATA_BUCKETS, "AccessLogs"])
def test_every_bucket_denies_plain_http_and_tls_below_1_2(data_template, buckets, name):
    statements = policy_statements_of(data_template, buckets[name][0])
    denies = [s for s in statements if s["Effect"] == "Deny"]
    assert any(
        s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} and s["Action"] == "s3:*" for s in denies
    )
    assert any(s.get("Condition") == {"NumericLessThan": {"s3:TlsVersion": 1.2}} for s in denies)
    for statement in denies:
        assert statement["Principal"] == {"AWS": "*"}


@pytest.mark.parametrize("name,prefix", list(DATA_BUCKETS.items()))
def test_data_bucket_logs_to_the_access_logs_bucket_under_its_own_prefix(buckets, name, prefix):
    logging = buckets[name][1]["Properties"]["LoggingConfiguration"]
    assert logging == {"DestinationBucketName": {"Ref": buckets["AccessLogs"][0]}, "LogFilePrefix": prefix}


def test_log_prefixes_are_distinct():
    assert len(set(DATA_BUCKETS.values())) == len(DATA_BUCKETS)


@pytest.mark.parametrize("name", list(DATA_BUCKETS))
def test_data_bucket_lifecycle_expires_noncurrent_versions_and_aborts_uploads(buckets, name):
    storage = load_config().storage
    (rule,) = buckets[name][1]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": storage.noncurrent_version_expiration_days}
    assert rule["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": storage.abort_incomplete_multipart_upload_days
    }
    assert "ExpirationInDays" not in rule, "current data versions must never expire"


@pytest.mark.parametrize("name", [*DATA_BUCKETS, "AccessLogs"])
def test_buckets_are_retained_by_default(data_template, buckets, name):
    bucket = buckets[name][1]
    assert bucket["DeletionPolicy"] == "Retain" and bucket["UpdateReplacePolicy"] == "Retain"
    assert not resources_of_type(data_template, "Custom::S3AutoDeleteObjects")


# --- access logs bucket ---------------------------------------------------------------------------------------------


def test_access_logs_bucket_uses_sse_s3_has_no_logging_of_its_own_and_expires_logs(buckets):
    props = buckets["AccessLogs"][1]["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert "LoggingConfiguration" not in props
    (lifecycle,) = props["LifecycleConfiguration"]["Rules"]
    assert lifecycle["ExpirationInDays"] == load_config().storage.access_logs_expiration_days
    assert lifecycle["Status"] == "Enabled"


def test_only_s3_log_delivery_from_this_accounts_data_buckets_may_write_access_logs(data_template, buckets):
    statements = policy_statements_of(data_template, buckets["AccessLogs"][0])
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert allows, "log delivery needs an Allow statement"
    for statement in allows:
        assert statement["Principal"] == {"Service": "logging.s3.amazonaws.com"}
        assert statement["Action"] == "s3:PutObject"
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source_arns = json.dumps([s["Condition"]["ArnLike"]["aws:SourceArn"] for s in allows])
    for name in DATA_BUCKETS:
        assert buckets[name][0] in source_arns


# --- catalog --------------------------------------------------------------------------------------------------------


def test_glue_database_and_stack_attributes(built_app, data_template):
    data = built_app.data
    assert data.glue_database_name == "ds_on_aws" and data.reviews_table_name == "reviews"
    (database,) = resources_of_type(data_template, "AWS::Glue::Database").values()
    assert database["Properties"]["DatabaseInput"]["Name"] == data.glue_database_name
    for attribute in ("key", "raw_bucket", "curated_bucket", "artifacts_bucket", "access_logs_bucket"):
        assert getattr(data, attribute) is not None


def test_reviews_table_schema_location_and_partition_projection(data_template, buckets):
    ((table_id, table),) = resources_of_type(data_template, "AWS::Glue::Table").items()
    database_id = next(iter(resources_of_type(data_template, "AWS::Glue::Database")))
    assert database_id in table["DependsOn"]
    table_input = table["Properties"]["TableInput"]
    assert table["Properties"]["DatabaseName"] == "ds_on_aws"
    assert table_input["Name"] == "reviews" and table_input["TableType"] == "EXTERNAL_TABLE"
    assert (
        [(c["Name"], c["Type"]) for c in table_input["StorageDescriptor"]["Columns"]]
        == [("review_id", "string"), ("text", "string"), ("label", "int"), ("rating", "int")]
        == list(REVIEW_COLUMNS)
    )
    assert [(c["Name"], c["Type"]) for c in table_input["PartitionKeys"]] == [("run_id", "string"), ("split", "string")]
    assert list(PARTITION_KEYS) == [("run_id", "string"), ("split", "string")]
    descriptor = table_input["StorageDescriptor"]
    assert (
        descriptor["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    )
    assert descriptor["InputFormat"].endswith("MapredParquetInputFormat")
    curated_ref = {"Ref": buckets["Curated"][0]}
    assert descriptor["Location"] == {"Fn::Join": ["", ["s3://", curated_ref, "/tables/reviews/"]]}
    params = table_input["Parameters"]
    assert params["classification"] == "parquet"
    assert params["projection.enabled"] == "true"
    assert params["projection.run_id.type"] == "injected"
    assert params["projection.split.type"] == "enum"
    assert params["projection.split.values"].split(",") == list(SPLITS) == ["train", "validation", "test"]
    assert params["storage.location.template"] == {
        "Fn::Sub": ["s3://${Bucket}/tables/reviews/run_id=${!run_id}/split=${!split}/", {"Bucket": curated_ref}]
    }


def test_no_account_wide_catalog_encryption_settings(data_template):
    assert not resources_of_type(data_template, "AWS::Glue::DataCatalogEncryptionSettings")


# --- outputs --------------------------------------------------------------------------------------------------------


def test_outputs_name_the_buckets_and_the_upload_command(data_template, buckets):
    outputs = data_template["Outputs"]
    for name in (*DATA_BUCKETS, "AccessLogs"):
        assert outputs[f"{name}BucketName"]["Value"] == {"Ref": buckets[name][0]}
    upload = json.dumps(outputs["UploadCommand"]["Value"])
    assert "aws s3 cp" in upload and buckets["Raw"][0] in upload and load_config().raw_prefix in upload
    assert outputs["GlueDatabaseName"]["Value"] == "ds_on_aws"


# --- retain_data_on_destroy: false ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def disposable_data_template(cdk_context, tmp_path_factory) -> dict:
    """The data stack alone with ``retain_data_on_destroy: false`` and ``trigger_on_upload: true`` (cdk-nag on,
    so the variant must pass it too)."""
    context = copy.deepcopy(cdk_context)
    context[CONTEXT_KEY]["retain_data_on_destroy"] = False
    context[CONTEXT_KEY]["trigger_on_upload"] = True
    outdir = tmp_path_factory.mktemp("cdk.out.disposable")
    app = App(context=context, outdir=str(outdir))
    from ds_on_aws.config import PipelineConfig

    DataStack(app, DATA_STACK_ID, config=PipelineConfig.from_context(context[CONTEXT_KEY]))
    enable_nag_checks(app)
    assembly = synthesize_or_explain(app, outdir)
    return json.loads((outdir / assembly.get_stack_by_name(DATA_STACK_ID).template_file).read_text())


def test_with_retain_false_data_buckets_and_key_are_deleted_but_access_logs_are_kept(disposable_data_template):
    all_buckets = resources_of_type(disposable_data_template, "AWS::S3::Bucket")
    for name in DATA_BUCKETS:
        _, bucket = one(all_buckets, f"{name}Bucket")
        assert bucket["DeletionPolicy"] == "Delete"
    _, logs = one(all_buckets, "AccessLogsBucket")
    assert logs["DeletionPolicy"] == "Retain"
    auto_delete = resources_of_type(disposable_data_template, "Custom::S3AutoDeleteObjects")
    assert len(auto_delete) == len(DATA_BUCKETS)
    (key,) = resources_of_type(disposable_data_template, "AWS::KMS::Key").values()
    assert key["DeletionPolicy"] == "Delete" and key["Properties"]["PendingWindowInDays"] == 7


def test_upload_trigger_turns_on_eventbridge_for_the_raw_bucket_only_and_natively(disposable_data_template, buckets):
    all_buckets = resources_of_type(disposable_data_template, "AWS::S3::Bucket")
    _, raw = one(all_buckets, "RawBucket")
    assert raw["Properties"]["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    for name in ("Curated", "Artifacts", "AccessLogs"):
        assert "NotificationConfiguration" not in one(all_buckets, f"{name}Bucket")[1]["Properties"]
    assert not resources_of_type(disposable_data_template, "Custom::S3BucketNotifications")
    # off by default (cdk.json): no event delivery at all
    assert "NotificationConfiguration" not in buckets["Raw"][1]["Properties"]
