"""The offline runner: the pipeline's stages on one machine, with the very scripts the cloud runs.

Stages, in the state machine's order: acquire data -> clean on local Spark (the Glue job, ``review_cleaning``)
-> data-quality gate -> train (``training/train.py`` under the SageMaker container contract) -> model-quality
gate -> package ``model.tar.gz`` -> local endpoint (``inference.py`` behind SageMaker's hosting routes) ->
smoke test -> report. :mod:`ds_on_aws.local.pipeline` runs them; :mod:`ds_on_aws.cli` is the command line.
"""
