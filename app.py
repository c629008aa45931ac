#!/usr/bin/env python3
"""CDK entry point (cdk.json: ``"app": ".venv/bin/python app.py"``).

The CDK CLI passes cdk.json's context (feature flags and the ``ds-on-aws`` configuration) to ``App()``; the stacks
are built by ``stacks.app_builder``, exactly as the tests build them. No ``env=``: the templates are account- and
region-agnostic, and synthesis needs no AWS credentials.
"""

from aws_cdk import App

from stacks.app_builder import build_app, synthesize


def main() -> None:
    app = App()
    build_app(app)
    synthesize(app)


if __name__ == "__main__":
    main()
