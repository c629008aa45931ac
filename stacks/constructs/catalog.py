"""Glue Data Catalog database and the ``reviews`` table over the curated Parquet copy of every run.

The table uses partition projection (``run_id`` injected, ``split`` an enum), so Athena can query a run right after
the Glue job wrote it, with no crawler and no partition registration:

    SELECT label, count(*) FROM reviews WHERE run_id = '<run id>' AND split = 'validation' GROUP BY label

An injected projection requires every query to name ``run_id`` (Athena refuses a query that does not), which is the
point: a run is the unit of data here.

L1 resources on purpose: the Glue table L2 only exists in the deprecated ``glue-alpha`` package. The Data Catalog's
own encryption settings are account- and region-wide (one ``AWS::Glue::DataCatalogEncryptionSettings`` per catalog),
so a stack must not set them: it would silently change every other database of the account and fight any other
stack doing the same. The data itself is KMS-encrypted in the curated bucket.
"""

from __future__ import annotations

from aws_cdk import Fn, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct
from pipeline_contracts import PREDICTIONS_TABLE, PREDICTIONS_TABLE_PREFIX, REVIEWS_TABLE, REVIEWS_TABLE_PREFIX, SPLITS
from predictions_table import PREDICTION_COLUMNS

REVIEWS_PREFIX = REVIEWS_TABLE_PREFIX  # tables/reviews/ (run_id=<run id>/split=<split>/ below it)
# Column name -> Glue/Hive type; the Parquet schema the Glue job writes (docs/architecture.md, cleaned review record; review_cleaning.writers).
REVIEW_COLUMNS = (("review_id", "string"), ("text", "string"), ("label", "int"), ("rating", "int"))
PARTITION_KEYS = (("run_id", "string"), ("split", "string"))


def database_name_for(project_name: str) -> str:
    """Glue/Athena-friendly database name: lower case with underscores (a hyphen would need quoting in every query)."""
    return project_name.lower().replace("-", "_")


class ReviewsCatalog(Construct):
    """The Glue database of the project and its ``reviews`` table (Parquet, partition projection)."""

    def __init__(self, scope: Construct, construct_id: str, *, database_name: str, curated_bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        account = Stack.of(self).account
        self.database_name = database_name
        self.table_name = REVIEWS_TABLE
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=database_name,
                description="ds-on-aws: curated review data of every pipeline run (see the reviews table)",
            ),
        )
        location = f"s3://{curated_bucket.bucket_name}/{REVIEWS_PREFIX}"
        # ${!name} is Fn::Sub's escape for a literal ${name}: Athena substitutes the partition values itself.
        template = Fn.sub(
            "s3://${Bucket}/" + REVIEWS_PREFIX + "run_id=${!run_id}/split=${!split}/",
            {"Bucket": curated_bucket.bucket_name},
        )
        self.table = glue.CfnTable(
            self,
            "ReviewsTable",
            catalog_id=account,
            database_name=database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=REVIEWS_TABLE,
                description="Cleaned reviews per run and split, written by the clean_reviews Glue job",
                table_type="EXTERNAL_TABLE",
                parameters={
                    "classification": "parquet",
                    "EXTERNAL": "TRUE",
                    "projection.enabled": "true",
                    "projection.run_id.type": "injected",
                    "projection.split.type": "enum",
                    "projection.split.values": ",".join(SPLITS),
                    "storage.location.template": template,
                },
                partition_keys=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in PARTITION_KEYS],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    columns=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in REVIEW_COLUMNS],
                    input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                        parameters={"serialization.format": "1"},
                    ),
                    compressed=False,
                    stored_as_sub_directories=False,
                ),
            ),
        )
        self.table.node.add_dependency(self.database)


class PredictionsTable(Construct):
    """The ``predictions`` table (Parquet, partition projection on ``run_id``) over every scoring run's partition.

    Its columns are the Parquet schema ``predictions_table`` writes (the scoring run's publish job and the
    offline ``ds-on-aws score`` alike)::

        SELECT label, count(*) FROM predictions WHERE run_id = '<run id>' GROUP BY label
    """

    def __init__(self, scope: Construct, construct_id: str, *, database_name: str, curated_bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        account = Stack.of(self).account
        self.table_name = PREDICTIONS_TABLE
        template = Fn.sub(
            "s3://${Bucket}/" + PREDICTIONS_TABLE_PREFIX + "run_id=${!run_id}/", {"Bucket": curated_bucket.bucket_name}
        )
        self.table = glue.CfnTable(
            self,
            "PredictionsTable",
            catalog_id=account,
            database_name=database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=PREDICTIONS_TABLE,
                description="Predictions of every scoring run (one row per review id), written by the scoring state "
                "machine's publish job and by ds-on-aws score",
                table_type="EXTERNAL_TABLE",
                parameters={
                    "classification": "parquet",
                    "EXTERNAL": "TRUE",
                    "projection.enabled": "true",
                    "projection.run_id.type": "injected",
                    "storage.location.template": template,
                },
                partition_keys=[glue.CfnTable.ColumnProperty(name="run_id", type="string")],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=f"s3://{curated_bucket.bucket_name}/{PREDICTIONS_TABLE_PREFIX}",
                    columns=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in PREDICTION_COLUMNS],
                    input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                        parameters={"serialization.format": "1"},
                    ),
                    compressed=False,
                    stored_as_sub_directories=False,
                ),
            ),
        )
