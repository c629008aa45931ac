"""The two gates of the state machine, decided the same way offline.

Data-quality gate: the Glue job decides (it writes its report, then raises); :mod:`cleaning` turns that into exit 3.
Model-quality gate (here): ``validation:accuracy`` from the training log must reach ``min_accuracy`` and, when
``compare_with_live`` is on, must not be worse than the live model's. Offline, "live" is the last model whose local
endpoint passed its smoke test, recorded in ``<output-dir>/live_model.json`` (the cloud reads the live endpoint's
model tags instead).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline_contracts import GATE_METRIC

LIVE_RECORD = "live_model.json"


@dataclass(frozen=True)
class ModelGateDecision:
    passed: bool
    accuracy: float | None
    min_accuracy: float
    live_accuracy: float | None
    live_run_id: str | None
    reasons: tuple[str, ...]

    def as_dict(self) -> dict:
        return asdict(self)


def read_live_record(output_dir: Path) -> dict | None:
    path = Path(output_dir) / LIVE_RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("accuracy"), (int, float)) else None


def write_live_record(output_dir: Path, run_id: str, accuracy: float, model_tar: Path) -> Path:
    """Record the accepted model atomically (a crash never leaves half a record)."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    record = {"run_id": run_id, "accuracy": accuracy, "metric": GATE_METRIC, "model_tar": str(model_tar),
              "accepted_at": datetime.now(UTC).isoformat(timespec="seconds")}
    fd, tmp = tempfile.mkstemp(dir=output_dir, prefix=".live_model.", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)
    os.replace(tmp, output_dir / LIVE_RECORD)
    return output_dir / LIVE_RECORD


def decide_model_gate(metrics: dict[str, float], min_accuracy: float, live: dict | None,
                      compare_with_live: bool) -> ModelGateDecision:
    """Pass when accuracy >= min_accuracy and (no live model, comparison off, or accuracy >= live accuracy)."""
    accuracy = metrics.get(GATE_METRIC)
    reasons: list[str] = []
    live_accuracy = float(live["accuracy"]) if live and compare_with_live else None
    if accuracy is None:
        reasons.append(f"the training log has no {GATE_METRIC} metric line")
    else:
        if accuracy < min_accuracy:
            reasons.append(f"{GATE_METRIC}={accuracy:.4f} is below the threshold {min_accuracy:.4f}")
        if live_accuracy is not None and accuracy < live_accuracy:
            reasons.append(f"{GATE_METRIC}={accuracy:.4f} is worse than the live model's {live_accuracy:.4f} "
                           f"(run {live.get('run_id')}); use --no-compare-live to ignore it")
    return ModelGateDecision(not reasons, accuracy, min_accuracy, live_accuracy,
                             live.get("run_id") if live and compare_with_live else None, tuple(reasons))
