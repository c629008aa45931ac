"""Costs from the price table: Glue DPU-seconds, training billable seconds with spot, Comprehend units, idle."""

from __future__ import annotations

import pytest
import run_cost

from ds_on_aws.config import ConfigError, PipelineConfig, load_config
from ds_on_aws.cost import default_run, idle_pipeline

PRICES = load_config().prices.as_dict()


def test_glue_dpu_seconds_prefer_what_glue_reports_and_apply_the_minute_minimum():
    assert run_cost.glue_dpu_seconds({"DPUSeconds": 123.0, "ExecutionTime": 999}) == 123.0
    assert run_cost.glue_dpu_seconds({"ExecutionTime": 290, "MaxCapacity": 2.0}) == 580.0
    assert run_cost.glue_dpu_seconds({"ExecutionTime": 20, "NumberOfWorkers": 4, "WorkerType": "G.2X"}) == 60 * 8.0


def test_training_usage_reads_spot_savings_as_sagemaker_reports_them():
    usage = run_cost.training_usage({"ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2},
                                     "TrainingTimeInSeconds": 600, "BillableTimeInSeconds": 150,
                                     "EnableManagedSpotTraining": True})
    assert usage["spot_savings"] == 0.75 and usage["billable_seconds"] == 150
    cost = run_cost.run_cost(glue_dpu_seconds=3600, training=usage, comprehend_units=1000, prices=PRICES)
    by_item = {line["item"].split(" (")[0]: line["cost"] for line in cost["items"]}
    assert by_item["Glue cleaning job"] == pytest.approx(PRICES["glue_dpu_hour"])
    assert by_item["SageMaker training"] == pytest.approx(2 * 150 / 3600 * PRICES["sagemaker_training_instance_hour"]
                                                          ["ml.m5.xlarge"], rel=1e-4)  # costs keep 6 decimals
    assert by_item["Comprehend sentiment"] == pytest.approx(1000 * PRICES["comprehend_unit"])
    assert cost["total"] == pytest.approx(sum(by_item.values()), abs=1e-5) and cost["complete"]


def test_a_missing_price_is_named_not_guessed():
    usage = {"instance_type": "ml.p5.48xlarge", "instance_count": 1, "billable_seconds": 60, "training_seconds": 60}
    cost = run_cost.run_cost(glue_dpu_seconds=None, training=usage, comprehend_units=None, prices=PRICES)
    (line,) = cost["items"]
    assert line["cost"] is None and "ml.p5.48xlarge" in line["missing_price"] and not cost["complete"]


def test_per_1000_reviews_and_break_even():
    assert run_cost.comprehend_per_1000(units=1300, documents=100, prices=PRICES) == pytest.approx(1.3)
    serverless = {"mode": "serverless", "serverless_memory_mb": 2048}
    assert run_cost.custom_per_1000(0.001, serverless, PRICES) == pytest.approx(2 * 1.0 * 0.00002)
    instance = {"mode": "instance", "instance_type": "ml.m5.large"}
    assert run_cost.custom_per_1000(0.0036, instance, PRICES) == pytest.approx(0.115 * 3.6 / 3600)
    assert run_cost.break_even_reviews(1.0, 0.0, 1.0) == 1000
    assert run_cost.break_even_reviews(1.0, 2.0, 1.0) is None  # never pays back


def test_the_idle_pipeline_costs_no_compute_when_serverless_and_every_hour_with_an_instance():
    config = load_config()
    idle = idle_pipeline(config)
    assert idle["items"][0]["cost"] == 0.0 and idle["total"] == pytest.approx(
        PRICES["kms_key_month"] + config.cost_assumptions.stored_gb * PRICES["s3_gb_month"])
    instance = run_cost.idle_per_month({"mode": "instance", "instance_type": "ml.m5.large",
                                        "initial_instance_count": 1}, PRICES)
    assert instance["items"][0]["cost"] == pytest.approx(730 * 0.115)


def test_a_default_run_estimate_uses_the_configuration_only():
    estimate = default_run(load_config())
    assert [line["item"].split(" (")[0] for line in estimate["items"]] == [
        "Glue cleaning job", "SageMaker training", "Comprehend sentiment"]
    assert estimate["complete"] and estimate["total"] > 0


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"baseline": {"sample_size": 0}}, "baseline.sample_size"),
        ({"baseline": {"poll_seconds": 5}}, "poll_seconds"),
        ({"baseline": {"max_wait_seconds": 99999}}, "must not exceed training.max_wait_seconds"),
        ({"prices": {"comprehend_unit": -1.0}}, "prices.comprehend_unit"),
        ({"prices": {"sagemaker_training_instance_hour": {"ml.m5.large": "cheap"}}}, "must be numbers"),
        ({"baseline": {"enabled": "yes"}}, "expected true or false"),
    ],
)
def test_bad_baseline_or_price_settings_are_refused_by_name(raw, message):
    with pytest.raises(ConfigError, match=message):
        PipelineConfig.from_context(raw)
