"""ds-on-aws: shared configuration and the offline (local) runner of the pipeline.

Nothing in this package imports aws_cdk: the CDK app and the local runner both read
their defaults through :mod:`ds_on_aws.config`.
"""

__version__ = "0.1.0"
