"""Review artifacts of the synthesized state machines: the definition as readable JSON and a Mermaid graph.

CloudFormation carries a state machine's definition as one ``Fn::Join`` string full of ``Ref``/``Fn::GetAtt``/
``Fn::FindInMap``/``Fn::Sub``/``Fn::GetStackOutput`` tokens. ``resolve_definition`` turns it into the ASL dict with
deterministic sample values (account 123456789012, region us-east-1, partition aws, plausible bucket names and
ARNs), so a reviewer can read it, ``asl-validator`` can check it, and the state-machine tests can run it in moto.
``to_mermaid`` draws its states and transitions. ``write_review_artifacts`` writes both for every state machine of
a cloud assembly. Pure Python: no aws_cdk import, so it runs on any synthesized template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SAMPLE_ACCOUNT = "123456789012"
SAMPLE_REGION = "us-east-1"
SAMPLE_PARTITION = "aws"
SAMPLE_URL_SUFFIX = "amazonaws.com"
REVIEW_DIR = "review"
STATE_MACHINE_TYPE = "AWS::StepFunctions::StateMachine"


class ResolveError(ValueError):
    """A template token cannot be resolved; the message names the token and the state machine."""


# --- sample values ---------------------------------------------------------------------------------------------


def _slug(text: str, limit: int = 63) -> str:
    """Lower-case, alphanumerics and dashes: valid as an S3 bucket or SageMaker-like name."""
    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "sample"


def _physical_name(stack_name: str, logical_id: str, resource: Mapping[str, Any]) -> str:
    """The resource's literal name property if it has one, else a plausible generated name."""
    properties = resource.get("Properties", {})
    for key in (
        "BucketName",
        "Name",
        "RoleName",
        "TopicName",
        "LogGroupName",
        "FunctionName",
        "StateMachineName",
        "TableName",
    ):
        value = properties.get(key)
        if isinstance(value, str):
            return value
    return _slug(f"{stack_name}-{logical_id}")


def _arn(service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
    return f"arn:{SAMPLE_PARTITION}:{service}:{SAMPLE_REGION if region else ''}:{SAMPLE_ACCOUNT if account else ''}:{resource}"


def _ref_value(stack_name: str, logical_id: str, resource: Mapping[str, Any]) -> str:
    """What ``Ref`` returns for the common resource types (name, ARN or id, as CloudFormation documents)."""
    kind = resource.get("Type", "")
    name = _physical_name(stack_name, logical_id, resource)
    if kind == "AWS::SNS::Topic":
        return _arn("sns", name)
    if kind == "AWS::StepFunctions::StateMachine":
        return _arn("states", f"stateMachine:{name}")
    if kind == "AWS::KMS::Key":
        return "1234abcd-12ab-34cd-56ef-1234567890ab"
    if kind == "AWS::SQS::Queue":
        return f"https://sqs.{SAMPLE_REGION}.{SAMPLE_URL_SUFFIX}/{SAMPLE_ACCOUNT}/{name}"
    return name


def _getatt_value(stack_name: str, logical_id: str, resource: Mapping[str, Any], attribute: str) -> str:
    """What ``Fn::GetAtt`` returns for the attributes the pipeline uses (ARNs mostly)."""
    kind = resource.get("Type", "")
    name = _physical_name(stack_name, logical_id, resource)
    by_type = {
        "AWS::S3::Bucket": {
            "Arn": f"arn:{SAMPLE_PARTITION}:s3:::{name}",
            "DomainName": f"{name}.s3.{SAMPLE_URL_SUFFIX}",
        },
        "AWS::IAM::Role": {
            "Arn": f"arn:{SAMPLE_PARTITION}:iam::{SAMPLE_ACCOUNT}:role/{name}",
            "RoleId": "AROASAMPLEROLEID",
        },
        "AWS::KMS::Key": {
            "Arn": _arn("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab"),
            "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
        },
        "AWS::SNS::Topic": {"TopicArn": _arn("sns", name), "TopicName": name},
        "AWS::Logs::LogGroup": {"Arn": _arn("logs", f"log-group:{name}:*")},
        "AWS::Lambda::Function": {"Arn": _arn("lambda", f"function:{name}")},
        "AWS::StepFunctions::StateMachine": {"Arn": _arn("states", f"stateMachine:{name}"), "Name": name},
    }
    if attribute in by_type.get(kind, {}):
        return by_type[kind][attribute]
    if attribute == "Arn":
        service = kind.split("::")[1].lower() if kind.count("::") == 2 else "service"
        return _arn(service, f"{_slug(kind.split('::')[-1])}/{name}")
    return f"{name}-{_slug(attribute)}"


# --- token resolution ------------------------------------------------------------------------------------------


class _Resolver:
    """Resolves CloudFormation intrinsics of one template to sample strings."""

    def __init__(
        self,
        template: Mapping[str, Any],
        stack_name: str,
        samples: Mapping[str, Any],
        others: Mapping[str, Mapping[str, Any]],
    ):
        self.template = template
        self.stack_name = stack_name
        self.samples = dict(samples)
        self.others = others
        self.pseudo = {
            "AWS::AccountId": SAMPLE_ACCOUNT,
            "AWS::Region": SAMPLE_REGION,
            "AWS::Partition": SAMPLE_PARTITION,
            "AWS::URLSuffix": SAMPLE_URL_SUFFIX,
            "AWS::StackName": stack_name,
            "AWS::StackId": _arn("cloudformation", f"stack/{stack_name}/00000000-0000-0000-0000-000000000000"),
            "AWS::NotificationARNs": "",
        }

    def resolve(self, value: Any) -> Any:
        if isinstance(value, str | int | float | bool) or value is None:
            return value
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, Mapping):
            raise ResolveError(f"unexpected value {value!r}")
        if len(value) == 1:
            ((key, arg),) = value.items()
            handler = {
                "Ref": self._ref,
                "Fn::GetAtt": self._getatt,
                "Fn::Join": self._join,
                "Fn::FindInMap": self._find_in_map,
                "Fn::Sub": self._sub,
                "Fn::Select": self._select,
                "Fn::Split": self._split,
                "Fn::GetStackOutput": self._stack_output,
                "Fn::ImportValue": self._import_value,
                "Fn::Base64": lambda a: self.resolve(a),
                "Fn::If": self._if,
            }.get(key)
            if handler is not None:
                return handler(arg)
            if key.startswith("Fn::"):
                raise ResolveError(f"unsupported intrinsic {key}")
        return {k: self.resolve(v) for k, v in value.items()}

    def _sample(self, key: str) -> Any:
        return self.samples.get(key)

    def _ref(self, name: str) -> str:
        override = self._sample(f"Ref:{name}") if f"Ref:{name}" in self.samples else self._sample(name)
        if override is not None:
            return override
        if name in self.pseudo:
            return self.pseudo[name]
        parameters = self.template.get("Parameters", {})
        if name in parameters:
            default = parameters[name].get("Default")
            return str(self.resolve(default)) if default is not None else f"sample-{_slug(name)}"
        resources = self.template.get("Resources", {})
        if name in resources:
            return _ref_value(self.stack_name, name, resources[name])
        raise ResolveError(f"Ref to unknown {name!r} in stack {self.stack_name}")

    def _getatt(self, arg: Any) -> str:
        if isinstance(arg, str):
            logical_id, attribute = arg.split(".", 1)
        else:
            logical_id, attribute = arg[0], self.resolve(arg[1])
        key = f"GetAtt:{logical_id}.{attribute}"
        if key in self.samples:
            return self.samples[key]
        resources = self.template.get("Resources", {})
        if logical_id not in resources:
            raise ResolveError(f"Fn::GetAtt on unknown resource {logical_id!r} in stack {self.stack_name}")
        return _getatt_value(self.stack_name, logical_id, resources[logical_id], attribute)

    def _join(self, arg: Any) -> str:
        separator, parts = arg
        resolved = self.resolve(parts)
        return str(separator).join("" if p is None else (p if isinstance(p, str) else json.dumps(p)) for p in resolved)

    def _find_in_map(self, arg: Any) -> Any:
        map_name, first, second = (self.resolve(a) for a in arg)
        try:
            return self.template["Mappings"][map_name][first][second]
        except KeyError:
            raise ResolveError(f"Fn::FindInMap {map_name}/{first}/{second} not in stack {self.stack_name}") from None

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        local = {k: self.resolve(v) for k, v in variables.items()}

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local:
                return str(local[name])
            if "." in name:
                return self._getatt(name)
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _select(self, arg: Any) -> Any:
        index, values = arg
        return self.resolve(values)[int(self.resolve(index))]

    def _split(self, arg: Any) -> list[str]:
        separator, text = arg
        return str(self.resolve(text)).split(separator)

    def _if(self, arg: Any) -> Any:
        return self.resolve(arg[1])  # conditions are not evaluated: the "true" branch as the sample

    def _stack_output(self, arg: Mapping[str, Any]) -> Any:
        stack_name = self.resolve(arg["StackName"])
        output = arg["OutputName"]
        return self._output_of(stack_name, output)

    def _import_value(self, arg: Any) -> Any:
        export = self.resolve(arg)
        for name, template in self.others.items():
            for output in template.get("Outputs", {}).values():
                if output.get("Export", {}).get("Name") == export:
                    return _Resolver(template, name, self.samples, self.others).resolve(output["Value"])
        return f"sample-{_slug(str(export))}"

    def _output_of(self, stack_name: str, output: str) -> Any:
        key = f"Output:{stack_name}.{output}"
        if key in self.samples:
            return self.samples[key]
        producer = self.others.get(stack_name)
        if producer is not None and output in producer.get("Outputs", {}):
            return _Resolver(producer, stack_name, self.samples, self.others).resolve(
                producer["Outputs"][output]["Value"]
            )
        # Without the producer's template: a plausible value from the output's name.
        if "Bucket" in output and "Arn" in output:
            return f"arn:{SAMPLE_PARTITION}:s3:::{_slug(stack_name + '-' + output.split('Bucket')[0].split('Ref')[-1].split('GetAtt')[-1] + '-bucket')}"
        if "Bucket" in output:
            return _slug(stack_name + "-" + output.split("Bucket")[0].split("Ref")[-1] + "-bucket")
        if "Arn" in output:
            return _arn("service", _slug(output))
        return f"sample-{_slug(output)}"


def resolve_definition(
    template: Mapping[str, Any],
    logical_id: str,
    samples: Mapping[str, Any] | None = None,
    *,
    stack_name: str = "Stack",
    other_templates: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict:
    """The ASL definition (a dict) of state machine ``logical_id`` in ``template``, tokens replaced by samples.

    ``samples`` overrides values: keys ``"Ref:<LogicalId>"`` (or a bare pseudo parameter such as
    ``"AWS::Region"``), ``"GetAtt:<LogicalId>.<Attribute>"`` and ``"Output:<StackName>.<OutputName>"``.
    ``other_templates`` (stack name -> template) lets ``Fn::GetStackOutput``/``Fn::ImportValue`` resolve to the
    producer's real output expression (e.g. the data stack's bucket), as ``write_review_artifacts`` does.
    Raises ``ResolveError`` naming the state machine when the resource or a token cannot be resolved, and when the
    result is not valid JSON.
    """
    resources = template.get("Resources", {})
    resource = resources.get(logical_id)
    if resource is None or resource.get("Type") != STATE_MACHINE_TYPE:
        raise ResolveError(f"{logical_id!r} is not an {STATE_MACHINE_TYPE} of stack {stack_name}")
    properties = resource.get("Properties", {})
    if "Definition" in properties:
        raw = properties["Definition"]
    elif "DefinitionString" in properties:
        raw = properties["DefinitionString"]
    else:
        raise ResolveError(f"state machine {logical_id} has no Definition/DefinitionString (an S3 definition?)")
    resolver = _Resolver(template, stack_name, samples or {}, other_templates or {})
    try:
        resolved = resolver.resolve(raw)
    except ResolveError as exc:
        raise ResolveError(f"state machine {logical_id}: {exc}") from None
    if isinstance(resolved, dict):
        return resolved
    try:
        definition = json.loads(resolved)
    except json.JSONDecodeError as exc:
        raise ResolveError(f"state machine {logical_id}: the resolved definition is not JSON ({exc})") from None
    if not isinstance(definition, dict) or "States" not in definition:
        raise ResolveError(f"state machine {logical_id}: the resolved definition has no 'States'")
    return definition


def state_machines(template: Mapping[str, Any]) -> list[str]:
    """Logical ids of the state machines of ``template``, sorted."""
    return sorted(k for k, v in template.get("Resources", {}).items() if v.get("Type") == STATE_MACHINE_TYPE)


# --- Mermaid ---------------------------------------------------------------------------------------------------

_OPERATORS = {
    "StringEquals": "==",
    "StringEqualsPath": "==",
    "NumericEquals": "==",
    "NumericEqualsPath": "==",
    "BooleanEquals": "==",
    "BooleanEqualsPath": "==",
    "NumericLessThan": "<",
    "NumericLessThanPath": "<",
    "NumericGreaterThan": ">",
    "NumericGreaterThanPath": ">",
    "NumericLessThanEquals": "<=",
    "NumericLessThanEqualsPath": "<=",
    "NumericGreaterThanEquals": ">=",
    "NumericGreaterThanEqualsPath": ">=",
    "StringMatches": "matches",
    "StringLessThan": "<",
    "StringGreaterThan": ">",
    "IsPresent": "is present",
    "IsString": "is string",
    "IsNumeric": "is number",
    "IsBoolean": "is boolean",
    "IsNull": "is null",
    "IsTimestamp": "is timestamp",
}


def describe_rule(rule: Mapping[str, Any]) -> str:
    """A short human reading of a Choice rule (``$.a < $.b``, ``not (...)``, ``... and ...``)."""
    if "And" in rule:
        return " and ".join(f"({describe_rule(r)})" for r in rule["And"])
    if "Or" in rule:
        return " or ".join(f"({describe_rule(r)})" for r in rule["Or"])
    if "Not" in rule:
        return f"not ({describe_rule(rule['Not'])})"
    variable = rule.get("Variable", "?")
    for key, operator in _OPERATORS.items():
        if key in rule:
            value = rule[key]
            if key.startswith("Is"):
                return f"{variable} {operator}" if value else f"{variable} not {operator.removeprefix('is ')}"
            return f"{variable} {operator} {json.dumps(value) if not isinstance(value, str) or not key.endswith('Path') else value}"
    return json.dumps(rule)


def _label(text: str, limit: int = 80) -> str:
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace('"', "#quot;")


def to_mermaid(definition: Mapping[str, Any]) -> str:
    """A Mermaid flowchart of ``definition``: one node per state, edges for Next, Choices, Default, Catch, End.

    Nested states of Parallel branches and Map iterators are drawn in subgraphs. Edge labels carry the Choice
    condition (shortened), ``default``, or ``catch: <errors>``.
    """
    lines = ["flowchart TD", '    start(("start"))']
    ids: dict[tuple[str, str], str] = {}

    def node_id(scope: str, name: str) -> str:
        key = (scope, name)
        if key not in ids:
            ids[key] = f"s{len(ids)}"
        return ids[key]

    def draw(states: Mapping[str, Any], start_at: str, scope: str, indent: str, entry_from: str) -> None:
        lines.append(f"{indent}{entry_from} --> {node_id(scope, start_at)}")
        for name, state in states.items():
            sid = node_id(scope, name)
            kind = state.get("Type", "?")
            label = _label(f"{name}")
            shape = {
                "Choice": f'{sid}{{"{label}"}}',
                "Succeed": f'{sid}(["{label}"])',
                "Fail": f'{sid}[["{label}"]]',
                "Wait": f'{sid}[/"{label}"/]',
                "Pass": f'{sid}("{label}")',
            }.get(kind, f'{sid}["{label}"]')
            lines.append(f"{indent}{shape}")
            if kind == "Fail":
                lines.append(f"{indent}class {sid} fail")
            for choice in state.get("Choices", []):
                lines.append(
                    f'{indent}{sid} -->|"{_label(describe_rule(choice), 60)}"| {node_id(scope, choice["Next"])}'
                )
            if "Default" in state:
                lines.append(f'{indent}{sid} -->|"default"| {node_id(scope, state["Default"])}')
            if "Next" in state:
                lines.append(f"{indent}{sid} --> {node_id(scope, state['Next'])}")
            for catch in state.get("Catch", []):
                errors = ", ".join(catch.get("ErrorEquals", []))
                lines.append(f'{indent}{sid} -.->|"{_label("catch: " + errors, 60)}"| {node_id(scope, catch["Next"])}')
            if state.get("End") or kind in ("Succeed", "Fail"):
                lines.append(f"{indent}{sid} --> stop")
            inner = []
            if kind == "Parallel":
                inner = [(f"{name} branch {i + 1}", b) for i, b in enumerate(state.get("Branches", []))]
            elif kind == "Map":
                processor = state.get("ItemProcessor") or state.get("Iterator")
                inner = [(f"{name} iteration", processor)] if processor else []
            for title, sub in inner:
                sub_scope = f"{scope}/{title}"
                lines.append(f'{indent}subgraph {node_id(scope, title)}_g["{_label(title)}"]')
                draw(sub["States"], sub["StartAt"], sub_scope, indent + "    ", sid)
                lines.append(f"{indent}end")

    draw(definition["States"], definition["StartAt"], "", "    ", "start")
    lines.append('    stop(("end"))')
    lines.append("    classDef fail fill:#fdd,stroke:#c00")
    return "\n".join(lines) + "\n"


# --- writing ---------------------------------------------------------------------------------------------------


def _templates(assembly_dir: Path) -> dict[str, dict]:
    """Stack name -> template of every stack in the cloud assembly (from manifest.json, else *.template.json)."""
    manifest_path = assembly_dir / "manifest.json"
    templates: dict[str, dict] = {}
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for artifact_id, artifact in manifest.get("artifacts", {}).items():
            if artifact.get("type") != "aws:cloudformation:stack":
                continue
            properties = artifact.get("properties", {})
            file = assembly_dir / properties["templateFile"]
            name = properties.get("stackName", artifact_id)
            templates[name] = json.loads(file.read_text(encoding="utf-8"))
    else:
        for file in sorted(assembly_dir.glob("*.template.json")):
            templates[file.name.removesuffix(".template.json")] = json.loads(file.read_text(encoding="utf-8"))
    return templates


def write_review_artifacts(assembly_dir: Path | str) -> list[Path]:
    """Write ``review/<stack>-<state machine>.asl.json`` and ``.mmd`` for every state machine; return the paths.

    ``<state machine>`` is its literal ``StateMachineName`` when it has one, else its logical id.
    """
    assembly_dir = Path(assembly_dir)
    templates = _templates(assembly_dir)
    written: list[Path] = []
    out = assembly_dir / REVIEW_DIR
    for stack_name, template in sorted(templates.items()):
        for logical_id in state_machines(template):
            definition = resolve_definition(template, logical_id, stack_name=stack_name, other_templates=templates)
            out.mkdir(parents=True, exist_ok=True)
            readable = template["Resources"][logical_id].get("Properties", {}).get("StateMachineName")
            base = out / f"{stack_name}-{readable if isinstance(readable, str) else logical_id}"
            asl = base.with_name(base.name + ".asl.json")
            asl.write_text(json.dumps(definition, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            mmd = base.with_name(base.name + ".mmd")
            mmd.write_text(to_mermaid(definition), encoding="utf-8")
            written += [asl, mmd]
    return written
