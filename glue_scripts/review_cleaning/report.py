"""Report and gate: the ``data_quality.json`` document and its checks, pure functions of the measured figures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pipeline_contracts import SCORE_MODE, SPLITS, TEST, VALIDATION

from review_cleaning.columns import context_columns
from review_cleaning.readers import RawInput
from review_cleaning.records import REJECT_REASONS, REPAIRS, SEEN

Rows = list[dict[str, Any]]


def _share(part: float, whole: float) -> float:
    return round(part / whole, 6) if whole else 0.0


def _counter(rows: Rows) -> Callable[[Callable[[dict[str, Any]], bool]], int]:
    """``total(pred)``: the number of rows in the groups of ``rows`` that satisfy ``pred``."""
    return lambda pred: sum(r["n"] for r in rows if pred(r))


def split_figures(rows: Rows) -> dict[str, dict[str, Any]]:
    """Rows and class balance of the kept rows per split; test only when the input had test rows."""
    total = _counter(rows)
    splits: dict[str, dict[str, Any]] = {}
    for split in SPLITS:
        pos = total(lambda r, s=split: r["_dq_status"] == "kept" and r["split"] == s and r["_dq_label"] == 1)
        neg = total(lambda r, s=split: r["_dq_status"] == "kept" and r["split"] == s and r["_dq_label"] == 0)
        if split == TEST and pos + neg == 0:
            continue
        splits[split] = {"rows": pos + neg, "positive": pos, "negative": neg,
                         "positive_share": _share(pos, pos + neg), "negative_share": _share(neg, pos + neg)}
    return splits


def gate_checks(counts: dict[str, int], splits: dict[str, dict[str, Any]], figures: dict[str, Any], raw: RawInput,
                opts) -> list[dict[str, Any]]:
    """Every check of the data-quality gate with its value, threshold and verdict.

    Scoring (``--mode score``) checks the accounting, that something is left to score and the quarantine share;
    class balance, duplicates and leakage concern training data only.
    """
    read, kept = counts["read"], counts["kept"]
    duplicates, quarantined = counts["duplicates_collapsed"], counts["quarantined"]
    checks: list[dict[str, Any]] = []

    def check(name: str, value, threshold, passed: bool, **extra):
        checks.append({"name": name, "threshold": threshold, "value": value, "passed": bool(passed), **extra})

    check("accounting_identity", read - (kept + duplicates + quarantined), 0, read == kept + duplicates + quarantined,
          description="rows read - (kept + duplicates collapsed + quarantined)")
    if opts.mode == SCORE_MODE:
        check("min_rows", kept, 1, kept >= 1, description="rows kept for scoring")
    else:
        check("min_rows", kept, opts.min_rows, kept >= opts.min_rows, description="rows kept for training and evaluation")
    check("max_quarantine_share", _share(quarantined, read), opts.max_quarantine_share,
          read > 0 and _share(quarantined, read) <= opts.max_quarantine_share)
    if opts.mode == SCORE_MODE:
        return checks
    check("max_duplicate_share", _share(duplicates, read), opts.max_duplicate_share,
          _share(duplicates, read) <= opts.max_duplicate_share)
    lo, hi = opts.min_class_share, 1 - opts.min_class_share
    overall_share = _share(sum(s["positive"] for s in splits.values()), kept)
    check("min_class_share", round(min(overall_share, 1 - overall_share), 6) if kept else 0.0, lo,
          kept > 0 and lo <= overall_share <= hi, description="smaller class share over all kept rows")
    for split, figs in splits.items():
        if split == VALIDATION and opts.validation_share == 0:
            continue
        share = figs["positive_share"]
        value = round(min(share, 1 - share), 6) if figs["rows"] else 0.0
        check(f"min_class_share:{split}", value, lo, figs["rows"] > 0 and lo <= share <= hi,
              description=f"smaller class share in {split}")
    check("no_leakage", figures["leaked_texts"], 0, figures["leaked_texts"] == 0,
          description="kept rows whose duplicate key (case, spacing and punctuation ignored) another kept row has "
                      "(0 = no near-duplicate in two splits)")
    if raw.roles.get("url"):
        check("no_group_leakage", figures["leaked_groups"], 0, figures["leaked_groups"] == 0,
              description="movie urls with reviews in both train and validation")
    return checks


def _text_length(stats: dict[str, Any]) -> dict[str, Any]:
    def rounded(value, digits=2):
        return None if value is None else round(float(value), digits)

    return {
        "chars": {"min": stats.get("cmin"), "median": rounded(stats.get("cmed"), 1),
                  "mean": rounded(stats.get("cmean")), "max": stats.get("cmax")},
        "words": {"min": stats.get("wmin"), "median": rounded(stats.get("wmed"), 1),
                  "mean": rounded(stats.get("wmean")), "max": stats.get("wmax")},
    }


def build_report(figures: dict[str, Any], raw: RawInput, opts, outputs: dict[str, str]) -> dict[str, Any]:
    """The data_quality.json document (docs/data-quality.md) with its checks; pure function of the measured figures."""
    rows = figures["counts"]
    total = _counter(rows)
    counts = {"read": total(lambda r: True), "kept": total(lambda r: r["_dq_status"] == "kept"),
              "duplicates_collapsed": total(lambda r: r["_dq_status"] == "duplicate"),
              "quarantined": total(lambda r: r["_dq_status"] == "quarantined")}
    reasons = {reason: total(lambda r, reason=reason: r["_dq_reason"] == reason) for reason in REJECT_REASONS}
    splits = split_figures(rows) if opts.mode != SCORE_MODE else {}
    checks = gate_checks(counts, splits, figures, raw, opts)
    cleaning = {"rows_changed": total_hits(rows, "changed"),
                **{f"rows_with_{kind}": total_hits(rows, f"seen:{kind}") for kind in SEEN}}
    return {
        "run_id": opts.run_id,
        "mode": opts.mode,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "passed": all(c["passed"] for c in checks),
        "input": {"uri": opts.input_uri, "format": raw.input_format, "files": len(raw.files),
                  "ignored_files": len(raw.ignored_files), "ignored_examples": raw.ignored_files[:10],
                  "columns": raw.original_columns, "roles": raw.roles},
        "outputs": outputs,
        "thresholds": opts.thresholds(),
        "counts": counts,
        "quarantine_reasons": reasons,
        "repairs": {kind: total_hits(rows, f"repair:{kind}") for kind in REPAIRS},
        "duplicates": {"groups": figures["duplicate_groups"], "copies_collapsed": counts["duplicates_collapsed"]},
        "splits": splits,
        "text_length": _text_length(figures["stats"]),
        "cleaning": cleaning,
        "informational": {"movie_urls_shared_with_test": figures["urls_shared_with_test"]},
        "checks": checks,
        **({"context_columns": context_columns(raw.original_columns, opts.context_columns)}
           if opts.mode == SCORE_MODE else {}),
    }


def total_hits(rows: Rows, key: str) -> int:
    return int(sum(r[key] or 0 for r in rows))


def failure_message(report: dict[str, Any]) -> str:
    """One line naming every failed check with its value and threshold."""
    failed = [f"{c['name']} (value {c['value']}, threshold {c['threshold']})" for c in report["checks"] if not c["passed"]]
    return (f"data-quality gate refused run {report['run_id']}: " + "; ".join(failed)
            + f". Report: {report['outputs'].get('report')}")
