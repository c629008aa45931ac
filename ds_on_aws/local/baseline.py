"""The managed baseline offline: Comprehend's input written as the cloud run writes it, its output read if given.

Amazon Comprehend runs only in an AWS account, so the offline run cannot call it. It writes the exact input the
state machine would send (``runs/<run_id>/baseline/documents.txt`` and its ``manifest.jsonl``), says so plainly,
and compares with an output archive the user passes (``ds-on-aws run --comprehend-output output.tar.gz``: the
``output/output.tar.gz`` of a sentiment detection job run on that file). The evaluation report is the cloud one
(``evaluation_report``), written to ``runs/<run_id>/evaluation.json``; its cost is the configuration's estimate of
the equivalent cloud run, since nothing here is billed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import comprehend_baseline as cb
import evaluation_report as er
from pipeline_contracts import EVALUATION_REPORT, VALIDATION, VALIDATION_PREDICTIONS, curated_split_key

from ds_on_aws.config import PipelineConfig
from ds_on_aws.cost import default_run, endpoint_settings, idle_pipeline
from ds_on_aws.local.errors import UsageError

NEEDS_ACCOUNT = (
    "the managed baseline (Amazon Comprehend) needs an AWS account: it did not run offline. Its input is in {input} "
    "({documents} reviews, {shortened} shortened to 5,120 bytes); run a Comprehend sentiment job on it and pass its "
    "output.tar.gz with --comprehend-output to compare"
)


def validation_records(curated_root: Path, run_id: str) -> list[dict]:
    folder = curated_root / curated_split_key(run_id, VALIDATION)
    records = []
    for part in sorted(p for p in folder.glob("part-*") if p.is_file()):
        records.extend(cb.read_json_lines(part.read_bytes(), str(part)))
    return records


def read_archive(path: Path) -> cb.ParsedOutput:
    """The user's Comprehend output archive; a missing or malformed one is bad usage (exit 2), named."""
    if not path.is_file():
        raise UsageError(f"--comprehend-output {path}: no such file")
    try:
        return cb.parse_output_archive(path.read_bytes())
    except cb.BaselineError as error:
        raise UsageError(f"--comprehend-output {path}: {error}") from None


def evaluate_offline(*, run_id: str, run_dir: Path, curated_root: Path, output_data_dir: Path,
                     comprehend_output: cb.ParsedOutput | None, config: PipelineConfig,
                     echo: Callable[[str], None] = print) -> dict:
    """Write the baseline input and the evaluation report; return the report."""
    prices = config.prices.as_dict()
    prepared = cb.prepare_input(validation_records(curated_root, run_id), config.baseline.sample_size)
    folder = run_dir / "baseline"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "documents.txt").write_text(prepared.text, encoding="utf-8")
    (folder / "manifest.jsonl").write_text(prepared.manifest_text(), encoding="utf-8")
    stats = prepared.stats()
    if comprehend_output is None:
        reason = NEEDS_ACCOUNT.format(input=folder / "documents.txt", **stats)
        echo(f"  note: {reason}")
        comprehend = er.comprehend_section(er.UNAVAILABLE, reason, None, None, None, prices)
    else:
        comprehend = er.comprehend_section(er.AVAILABLE, "", prepared.manifest, comprehend_output, None, prices)
        comprehend["latency"]["measured_as"] = "not measured offline (the job ran elsewhere)"
    predictions_file = output_data_dir / VALIDATION_PREDICTIONS
    predictions = json.loads(predictions_file.read_text(encoding="utf-8")) if predictions_file.is_file() else None
    custom = er.custom_model_section(predictions, prepared.manifest if comprehend["status"] == er.AVAILABLE else None,
                                     endpoint_settings(config), prices,
                                     f"the training job wrote no {predictions_file}")
    cost = default_run(config)
    cost["estimated_for"] = "the equivalent cloud run, from the configuration (nothing is billed offline)"
    report = er.build_report(run_id=run_id, custom=custom, comprehend=comprehend, cost=cost,
                             idle=idle_pipeline(config))
    (run_dir / EVALUATION_REPORT).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for line in er.summary_lines(report):
        echo(f"  {line}")
    return report
