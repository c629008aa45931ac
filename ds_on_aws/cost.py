"""``ds-on-aws cost``: the estimated cost of a default run and of the idle pipeline, from the configuration alone.

The prices are ``ds-on-aws.prices``; what a run has not measured yet (how long the jobs take, how long the reviews
are) is ``ds-on-aws.cost_assumptions``. A real run's evaluation report prices what the run actually used instead.
"""

from __future__ import annotations

import math

import run_cost
from comprehend_baseline import BILLING_UNIT_CHARS, MAX_DOCUMENT_BYTES, MIN_UNITS_PER_DOCUMENT

from ds_on_aws.config import PipelineConfig


def endpoint_settings(config: PipelineConfig) -> dict:
    e = config.endpoint
    return {"mode": e.mode, "serverless_memory_mb": e.serverless_memory_mb, "instance_type": e.instance_type,
            "initial_instance_count": e.initial_instance_count}


def default_run(config: PipelineConfig) -> dict:
    """A default run priced from the configuration: Glue, training (spot as assumed) and the Comprehend sample."""
    a, prices = config.cost_assumptions, config.prices.as_dict()
    dpu = run_cost.GLUE_WORKER_DPU.get(config.glue.worker_type, 1.0) * config.glue.number_of_workers
    glue_seconds = max(a.glue_minutes * 60, config.prices.glue_minimum_seconds) * dpu
    training_seconds = a.training_minutes * 60
    billable = training_seconds * (1 - a.spot_savings) if config.training.use_spot else training_seconds
    training = {"instance_type": config.training.instance_type, "instance_count": config.training.instance_count,
                "training_seconds": training_seconds, "billable_seconds": billable,
                "managed_spot": config.training.use_spot,
                "spot_savings": a.spot_savings if config.training.use_spot else 0.0}
    characters = min(a.review_characters, MAX_DOCUMENT_BYTES)
    units_per_review = max(MIN_UNITS_PER_DOCUMENT, math.ceil(characters / BILLING_UNIT_CHARS))
    units = config.baseline.sample_size * units_per_review if config.baseline.enabled else None
    estimate = run_cost.run_cost(glue_dpu_seconds=glue_seconds, training=training, comprehend_units=units,
                                 prices=prices)
    endpoint = endpoint_settings(config)
    estimate["per_1000_reviews"] = {
        "custom_model": run_cost.custom_per_1000(a.custom_seconds_per_review, endpoint, prices),
        "comprehend": run_cost.comprehend_per_1000(units_per_review, 1, prices),
    }
    estimate["break_even_reviews"] = run_cost.break_even_reviews(
        estimate["total"], estimate["per_1000_reviews"]["custom_model"], estimate["per_1000_reviews"]["comprehend"]
    )
    return estimate


def idle_pipeline(config: PipelineConfig) -> dict:
    return run_cost.idle_per_month(endpoint_settings(config), config.prices.as_dict(),
                                   stored_gb=config.cost_assumptions.stored_gb)


def _lines(title: str, estimate: dict) -> list[str]:
    currency = estimate["currency"]
    lines = [title]
    for line in estimate["items"]:
        cost = "no price: " + line["missing_price"] if line["cost"] is None else f"{line['cost']:10.4f} {currency}"
        lines.append(f"  {line['item']:<70} {line['quantity']:>12.4f} {line['unit']:<14} {cost}")
    complete = "" if estimate["complete"] else "  (incomplete: some prices are missing)"
    lines.append(f"  {'total':<98} {estimate['total']:10.4f} {currency}{complete}")
    return lines


def format_report(config: PipelineConfig) -> str:
    run, idle, a = default_run(config), idle_pipeline(config), config.cost_assumptions
    p = config.prices
    lines = [
        f"Prices: {p.region}, {p.currency}, as of {p.as_of} ({p.source}); edit cdk.json ds-on-aws.prices to update.",
        f"Assumed (cdk.json ds-on-aws.cost_assumptions): Glue {a.glue_minutes} min, training {a.training_minutes} min"
        f" (spot saving {a.spot_savings:.0%}), reviews of {a.review_characters} characters, custom model "
        f"{a.custom_seconds_per_review * 1000:.2f} s of compute per 1,000 reviews, {a.stored_gb} GB stored.",
        "",
        *_lines("A default run:", run),
        "",
        *_lines("The idle pipeline, per month (no run, no request):", idle),
        "",
        "Scoring 1,000 reviews:",
    ]
    per = run["per_1000_reviews"]
    for name, value in (("custom model", per["custom_model"]), ("Amazon Comprehend", per["comprehend"])):
        lines.append(f"  {name:<20} " + ("no price" if value is None else f"{value:.6f} {p.currency}"))
    if run["break_even_reviews"] is not None:
        lines.append(f"  a run's cost is paid back after {run['break_even_reviews']:,} reviews scored by the custom "
                     "model instead of Comprehend")
    return "\n".join(lines)
