"""What a run costs and what 1,000 scored reviews cost, from the price table of the configuration.

Standard library only (the evaluation Lambda, the offline runner and ``ds-on-aws cost`` import it). The price table
is ``ds-on-aws.prices`` in cdk.json (on-demand list prices of one region, with the date they were read); every
function takes it as a plain mapping and names a missing price instead of guessing one.

What is priced, and from what:

* Glue: DPU-seconds. ``GetJobRun`` gives ``DPUSeconds`` for auto-scaled and Flex runs; otherwise
  ``ExecutionTime`` x the run's capacity (``MaxCapacity``, or workers x DPU per worker type), with Glue's 1-minute
  minimum.
* Training: ``BillableTimeInSeconds`` x instance count x the instance's hourly price. With managed spot, SageMaker
  reports fewer billable than training seconds; the saving is ``1 - billable / training`` (as the console shows).
* Comprehend: units of 100 characters, at least 3 a document, x the unit price.
* Scoring with the custom model, per 1,000 reviews: serverless = memory (GB) x seconds of compute per review x the
  GB-second price; instance = hourly price x the same seconds (a fully used instance). The seconds per review are
  measured by the training job on the validation split (batch scoring in the container), so request overheads and
  cold starts are not in them.
* Idle: a serverless endpoint costs nothing while idle; an instance endpoint bills every hour; the KMS key and
  stored data bill monthly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

HOURS_PER_MONTH = 730
#: DPUs of one worker of each Glue worker type.
GLUE_WORKER_DPU = {"G.025X": 0.25, "G.1X": 1.0, "G.2X": 2.0, "G.4X": 4.0, "G.8X": 8.0, "Z.2X": 2.0}


class PriceError(KeyError):
    """A price the estimate needs is missing from the table; the message names the key."""


def price(prices: Mapping, key: str, instance_type: str | None = None) -> float:
    """``prices[key]`` (or ``prices[key][instance_type]``) as a number, or :class:`PriceError` naming it."""
    value = prices.get(key)
    where = f"prices.{key}"
    if instance_type is not None:
        value = value.get(instance_type) if isinstance(value, Mapping) else None
        where = f"{where}[{instance_type!r}]"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PriceError(f"{where}: no price in the configuration's price table; add it (cdk.json ds-on-aws.prices)")
    return float(value)


def item(name: str, quantity: float, unit: str, prices: Mapping, key: str, instance_type: str | None = None) -> dict:
    """One priced line: ``cost`` is None (and ``missing_price`` says why) when the table lacks the price."""
    line = {"item": name, "quantity": round(float(quantity), 6), "unit": unit}
    try:
        unit_price = price(prices, key, instance_type)
    except PriceError as error:
        return {**line, "unit_price": None, "cost": None, "missing_price": str(error.args[0])}
    return {**line, "unit_price": unit_price, "cost": round(quantity * unit_price, 6)}


def total(items: list[dict], prices: Mapping) -> dict:
    known = [line["cost"] for line in items if line["cost"] is not None]
    return {
        "currency": prices.get("currency", "USD"),
        "prices_as_of": prices.get("as_of"),
        "prices_region": prices.get("region"),
        "items": items,
        "total": round(sum(known), 6),
        "complete": len(known) == len(items),
    }


# --- usage as the services report it ----------------------------------------------------------------------------


def glue_dpu_seconds(job_run: Mapping, minimum_seconds: float = 60.0) -> float:
    """DPU-seconds of one Glue job run (a ``GetJobRun`` ``JobRun``)."""
    if isinstance(job_run.get("DPUSeconds"), (int, float)):
        return float(job_run["DPUSeconds"])
    seconds = max(float(job_run.get("ExecutionTime") or 0), minimum_seconds)
    capacity = job_run.get("MaxCapacity")
    if not isinstance(capacity, (int, float)):
        workers = job_run.get("NumberOfWorkers") or 0
        capacity = workers * GLUE_WORKER_DPU.get(str(job_run.get("WorkerType")), 1.0)
    return seconds * float(capacity)


def training_usage(described: Mapping) -> dict:
    """Instance, count, training and billable seconds and spot saving from a ``DescribeTrainingJob`` answer."""
    resources = described.get("ResourceConfig") or {}
    training_seconds = float(described.get("TrainingTimeInSeconds") or 0)
    billable = described.get("BillableTimeInSeconds")
    billable_seconds = float(billable) if isinstance(billable, (int, float)) else training_seconds
    spot = bool(described.get("EnableManagedSpotTraining"))
    saving = 1 - billable_seconds / training_seconds if spot and training_seconds else 0.0
    return {
        "instance_type": resources.get("InstanceType", ""),
        "instance_count": int(resources.get("InstanceCount") or 1),
        "training_seconds": training_seconds,
        "billable_seconds": billable_seconds,
        "managed_spot": spot,
        "spot_savings": round(saving, 4),
    }


# --- estimates -------------------------------------------------------------------------------------------------


def run_cost(*, glue_dpu_seconds: float | None, training: Mapping | None, comprehend_units: int | None,
             prices: Mapping) -> dict:
    """The cost of one run from what it used (a part it did not use is left out)."""
    items = []
    if glue_dpu_seconds is not None:
        items.append(item("Glue cleaning job", glue_dpu_seconds / 3600, "DPU-hour", prices, "glue_dpu_hour"))
    if training is not None:
        hours = training["billable_seconds"] * training["instance_count"] / 3600
        name = f"SageMaker training ({training['instance_type']}, billable seconds"
        name += f", spot saving {training['spot_savings']:.0%})" if training.get("managed_spot") else ")"
        items.append(item(name, hours, "instance-hour", prices, "sagemaker_training_instance_hour",
                          training["instance_type"]))
    if comprehend_units is not None:
        items.append(item("Comprehend sentiment (baseline sample)", comprehend_units, "unit", prices,
                          "comprehend_unit"))
    return total(items, prices)


def comprehend_per_1000(units: int, documents: int, prices: Mapping) -> float | None:
    """Comprehend's cost of 1,000 reviews like the ones sent (their average units)."""
    if not documents:
        return None
    try:
        return round(units / documents * 1000 * price(prices, "comprehend_unit"), 6)
    except PriceError:
        return None


def custom_per_1000(seconds_per_review: float | None, endpoint: Mapping, prices: Mapping) -> float | None:
    """The custom model's scoring cost of 1,000 reviews on the configured endpoint (see the module docstring)."""
    if seconds_per_review is None:
        return None
    compute_seconds = seconds_per_review * 1000
    try:
        if endpoint.get("mode") == "serverless":
            gb = endpoint["serverless_memory_mb"] / 1024
            return round(gb * compute_seconds * price(prices, "sagemaker_serverless_gb_second"), 8)
        hourly = price(prices, "sagemaker_hosting_instance_hour", endpoint["instance_type"])
        return round(hourly * compute_seconds / 3600, 8)
    except PriceError:
        return None


def idle_per_month(endpoint: Mapping, prices: Mapping, *, kms_keys: int = 1, stored_gb: float = 0.0) -> dict:
    """What the deployed pipeline costs a month with no run and no request."""
    items = []
    if endpoint.get("mode") == "serverless":
        items.append({"item": "serverless endpoint while idle", "quantity": 0, "unit": "GB-second",
                      "unit_price": prices.get("sagemaker_serverless_gb_second"), "cost": 0.0})
    else:
        hours = HOURS_PER_MONTH * int(endpoint.get("initial_instance_count", 1))
        items.append(item(f"instance endpoint ({endpoint['instance_type']}) around the clock", hours,
                          "instance-hour", prices, "sagemaker_hosting_instance_hour", endpoint["instance_type"]))
    items.append(item("KMS customer managed key", kms_keys, "key-month", prices, "kms_key_month"))
    if stored_gb:
        items.append(item("S3 storage (data, models, logs)", stored_gb, "GB-month", prices, "s3_gb_month"))
    return total(items, prices)


def break_even_reviews(fixed_cost: float | None, custom: float | None, comprehend: float | None) -> int | None:
    """Reviews to score before a run's cost is paid back by cheaper scoring (None when it never is)."""
    if fixed_cost is None or custom is None or comprehend is None or comprehend <= custom:
        return None
    return math.ceil(fixed_cost / ((comprehend - custom) / 1000))
