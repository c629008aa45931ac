"""The CDK app's stacks: ``DataStack`` (buckets, key, catalog) and ``PipelineStack`` (Glue, SageMaker, Step Functions)."""
