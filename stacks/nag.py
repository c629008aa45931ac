"""cdk-nag 3 wiring and the ONE way this project acknowledges a finding.

cdk-nag 3 is a CDK validation plugin: ``enable_nag_checks(app)`` registers the AwsSolutions pack, and any
unacknowledged finding makes synthesis raise ``ValidationFailed`` (``cdk synth`` and the tests alike).

An acknowledgment names exactly one rule on exactly one CloudFormation resource, with the finding's ``[...]`` detail
where the rule has one (e.g. ``AwsSolutions-IAM5[Action::sagemaker:List*]``), and a reason a reviewer would accept.
``acknowledge()`` resolves an L2 construct to its L1 resource so the acknowledgment cannot spread to the children
of a higher-level construct, and refuses malformed rule ids and empty or boilerplate reasons. CDK records every
acknowledgment as construct metadata (``aws:cdk:acknowledged-rules``, id -> reason) in the cloud assembly, which is
where the tests list and audit them.

cdk-nag 3 reports a finding as ``AwsSolutions::<rule>`` ("Acknowledge with 'AwsSolutions::AwsSolutions-S1'");
without that source prefix CDK files the id under ``Annotation::`` and the acknowledgment silently matches nothing,
so the helper adds the prefix itself.
"""

from __future__ import annotations

import re

from aws_cdk import Acknowledgment as _Acknowledgment
from aws_cdk import App, CfnResource, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

METADATA_TYPE = "aws:cdk:acknowledged-rules"
NAG_SOURCE = "AwsSolutions::"
MIN_REASON_CHARS = 40
# AwsSolutions-IAM5, optionally with one [...] finding detail; no wildcard rule ids, no other packs.
_RULE_ID = re.compile(r"^AwsSolutions-[A-Z]+[0-9]+(\[[^\]]+\])?$")


class AcknowledgmentError(ValueError):
    """An acknowledgment is not specific enough or has no real reason; the message says which."""


def enable_nag_checks(app: App) -> None:
    """Run cdk-nag's AwsSolutions pack on every resource of ``app`` at synthesis."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def _resource_of(construct: IConstruct) -> CfnResource:
    """The one CloudFormation resource an acknowledgment applies to (an L2 resolves to its default child)."""
    if isinstance(construct, CfnResource):
        return construct
    child = construct.node.default_child
    if isinstance(child, CfnResource):
        return child
    raise AcknowledgmentError(
        f"{construct.node.path}: not a CloudFormation resource and has no default child resource; "
        "acknowledge on the exact resource that raises the finding"
    )


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> CfnResource:
    """Acknowledge one cdk-nag finding on one resource, with a reason; returns the resource it was applied to.

    ``rule_id`` is the full finding id as cdk-nag reports it, e.g. ``AwsSolutions-S1`` or
    ``AwsSolutions-IAM5[Resource::*]``. cdk-nag 3 matches it exactly (no prefixes, no patterns).
    """
    if not _RULE_ID.match(rule_id):
        raise AcknowledgmentError(
            f"{rule_id!r}: expected one AwsSolutions rule id such as 'AwsSolutions-IAM5[Resource::*]'"
        )
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON_CHARS:
        raise AcknowledgmentError(
            f"{rule_id} on {construct.node.path}: the reason must explain why the finding is acceptable "
            f"(at least {MIN_REASON_CHARS} characters), got {reason!r}"
        )
    resource = _resource_of(construct)
    Validations.of(resource).acknowledge(_Acknowledgment(id=NAG_SOURCE + rule_id, reason=reason))
    return resource


def format_validation_report(report: dict) -> str:
    """One line per finding (``rule  construct path  description``) from a ``validation-report.json`` document.

    cdk-nag 3's ``ValidationFailed`` only names the report file; this turns it into something a test can print.
    """
    lines = []
    for plugin in report.get("pluginReports", []):
        for violation in plugin.get("violations", []):
            for construct in violation.get("violatingConstructs", []):
                summary = violation.get("description", "").strip().split(". ")[0].rstrip(".")
                lines.append(f"{violation.get('ruleName')}  {construct.get('constructPath')}  ({summary})")
    return "\n".join(sorted(lines))
