"""The run's evaluation report: the custom model and Amazon Comprehend on the same reviews, and what each costs.

Standard library only: the evaluation Lambda writes it to ``models/<run_id>/evaluation.json`` (beside the model)
and the offline runner to ``runs/<run_id>/evaluation.json``; :func:`summary_lines` is the text of the notification
and of the HTML report's section. The schema is documented in docs/architecture.md ("Evaluation report").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import comprehend_baseline as cb
import run_cost

REPORT_VERSION = 1
AVAILABLE, UNAVAILABLE, DISABLED = "available", "unavailable", "disabled"


def per_1000(seconds: float | None, reviews: int | None) -> float | None:
    return round(seconds / reviews * 1000, 6) if seconds is not None and reviews else None


def custom_model_section(predictions: Mapping | None, manifest: Sequence[Mapping] | None, endpoint: Mapping,
                         prices: Mapping, reason: str = "") -> dict:
    """The custom model's metrics on the baseline's reviews (all validation reviews without a baseline)."""
    if predictions is None:
        return {"status": UNAVAILABLE, "reason": reason or "the training job wrote no validation predictions"}
    by_id = {p["review_id"]: p for p in predictions["predictions"]}
    wanted = [entry["review_id"] for entry in manifest] if manifest else list(by_id)
    chosen = [by_id[review_id] for review_id in wanted if review_id in by_id]
    threshold = predictions.get("threshold", 0.5)
    labels = [int(p["label"]) for p in chosen]
    predicted = [int(p["positive_probability"] >= threshold) for p in chosen]
    seconds_per_review = predictions["predict_seconds"] / predictions["reviews"] if predictions["reviews"] else None
    return {
        "status": AVAILABLE,
        "reviews": "the baseline's sample" if manifest else "the whole validation split",
        "missing_reviews": len(wanted) - len(chosen),
        "metrics": cb.binary_metrics(labels, predicted),
        "latency": {
            "seconds_per_1000_reviews": per_1000(predictions["predict_seconds"], predictions["reviews"]),
            "measured_as": "batch scoring of the validation split in the training container (no request overhead)",
        },
        "cost_per_1000_reviews": run_cost.custom_per_1000(seconds_per_review, endpoint, prices),
    }


def comprehend_section(status: str, reason: str, manifest: Sequence[Mapping] | None,
                       parsed: cb.ParsedOutput | None, job_seconds: float | None, prices: Mapping,
                       input_file: str = "") -> dict:
    """Comprehend's metrics on its sample, its NEUTRAL/MIXED share, errors, latency and cost."""
    section: dict = {"status": status, "label_mapping": dict(cb.SENTIMENT_TO_LABEL),
                     "undecided_rule": "NEUTRAL and MIXED take the larger of the Positive and Negative scores"}
    if status != AVAILABLE or manifest is None or parsed is None:
        return {**section, "status": UNAVAILABLE if status == AVAILABLE else status, "reason": reason}
    compared = cb.compare_with_labels(manifest, parsed, input_file)
    compared.pop("predictions")
    units = sum(entry["units"] for entry in manifest)
    return {
        **section,
        **compared,
        "shortened": sum(1 for entry in manifest if entry["shortened"]),
        "billing_units": units,
        "latency": {"job_seconds": job_seconds, "seconds_per_1000_reviews": per_1000(job_seconds, len(manifest)),
                    "measured_as": "the asynchronous job from submission to end (queueing included)"},
        "cost_per_1000_reviews": run_cost.comprehend_per_1000(units, len(manifest), prices),
    }


def build_report(*, run_id: str, custom: dict, comprehend: dict, cost: dict, idle: dict,
                 created_at: str | None = None) -> dict:
    """The whole report; ``cost`` is :func:`run_cost.run_cost`'s, ``idle`` :func:`run_cost.idle_per_month`'s."""
    return {
        "version": REPORT_VERSION,
        "run_id": run_id,
        "created_at": created_at or datetime.now(UTC).isoformat(timespec="seconds"),
        "custom_model": custom,
        "comprehend": comprehend,
        "cost": cost,
        "idle_per_month": idle,
        "break_even_reviews": run_cost.break_even_reviews(
            cost.get("total"), custom.get("cost_per_1000_reviews"), comprehend.get("cost_per_1000_reviews")
        ),
    }


def _metrics_line(name: str, section: Mapping) -> str:
    if section.get("status") != AVAILABLE:
        return f"{name}: {section.get('status')} ({section.get('reason', '')})"
    m = section["metrics"]
    c = m["confusion_matrix"]
    accuracy = "n/a" if m["accuracy"] is None else f"{m['accuracy']:.4f}"
    f1 = "n/a" if m["f1"] is None else f"{m['f1']:.4f}"
    cost = section.get("cost_per_1000_reviews")
    latency = section["latency"]["seconds_per_1000_reviews"]
    return (f"{name}: accuracy {accuracy}, F1 {f1} on {m['reviews']} reviews "
            f"(TN {c['true_negative']} FP {c['false_positive']} FN {c['false_negative']} TP {c['true_positive']}); "
            f"{'n/a' if latency is None else f'{latency:.3f}'} s per 1,000 reviews; "
            f"{'n/a' if cost is None else f'{cost:.6f}'} per 1,000 reviews")


def summary_lines(report: Mapping) -> list[str]:
    """The report in a few lines (notification, console, HTML)."""
    comprehend, cost = report["comprehend"], report["cost"]
    lines = [_metrics_line("Custom model", report["custom_model"]), _metrics_line("Amazon Comprehend", comprehend)]
    if comprehend.get("status") == AVAILABLE:
        share = comprehend["neutral_or_mixed_share"]
        lines.append(
            f"Comprehend NEUTRAL/MIXED share {0 if share is None else share:.1%} (accuracy on POSITIVE/NEGATIVE only "
            f"{comprehend['metrics_positive_negative_only']['accuracy'] or 0:.4f}); {comprehend['shortened']} "
            f"reviews shortened to {cb.MAX_DOCUMENT_BYTES} bytes; errors {comprehend['errors'] or 'none'}"
        )
    items = "; ".join(
        f"{line['item']} {'no price' if line['cost'] is None else format(line['cost'], '.4f')}" for line in cost["items"]
    )
    lines.append(f"Run cost {cost['total']:.4f} {cost['currency']} (prices {cost['prices_region']}, "
                 f"{cost['prices_as_of']}): {items}")
    idle = report["idle_per_month"]
    lines.append(f"Idle pipeline {idle['total']:.2f} {idle['currency']} a month")
    if report.get("break_even_reviews") is not None:
        lines.append(f"Break-even: the run's cost is paid back after {report['break_even_reviews']:,} reviews scored by "
                     "the custom model instead of Comprehend")
    return lines
