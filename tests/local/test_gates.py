"""The model-quality gate: threshold and live-model comparison, as the state machine's Choice decides."""

from __future__ import annotations

from ds_on_aws.local import gates


def test_gate_passes_above_threshold_without_a_live_model():
    decision = gates.decide_model_gate({"validation:accuracy": 0.9}, 0.88, None, True)
    assert decision.passed and decision.reasons == ()


def test_gate_refuses_below_threshold_and_names_both_numbers():
    decision = gates.decide_model_gate({"validation:accuracy": 0.8}, 0.88, None, True)
    assert not decision.passed
    assert decision.reasons == ("validation:accuracy=0.8000 is below the threshold 0.8800",)


def test_gate_refuses_a_model_worse_than_the_live_one_unless_comparison_is_off():
    live = {"run_id": "local-1", "accuracy": 0.92}
    assert not gates.decide_model_gate({"validation:accuracy": 0.91}, 0.88, live, True).passed
    assert gates.decide_model_gate({"validation:accuracy": 0.92}, 0.88, live, True).passed  # equal is not worse
    assert gates.decide_model_gate({"validation:accuracy": 0.91}, 0.88, live, False).passed


def test_gate_refuses_when_the_metric_is_missing():
    decision = gates.decide_model_gate({"validation:f1": 0.9}, 0.5, None, True)
    assert not decision.passed and "no validation:accuracy" in decision.reasons[0]


def test_live_record_round_trip(tmp_path):
    assert gates.read_live_record(tmp_path) is None
    gates.write_live_record(tmp_path, "local-1", 0.91, tmp_path / "model.tar.gz")
    assert gates.read_live_record(tmp_path)["accuracy"] == 0.91
    (tmp_path / gates.LIVE_RECORD).write_text("{broken")
    assert gates.read_live_record(tmp_path) is None
