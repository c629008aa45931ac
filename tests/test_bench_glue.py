"""The Glue benchmark's pieces: both single-process contenders apply the job's rules and write its outputs, agree
with each other row for row, and the isolated runs report failures; the agreement check, Spark's xxhash64, the
event-log breakdown and the process-tree sampler measure what they claim. No Spark is started here (the job's own
tests cover the job; the benchmark compares it with these contenders on the real data)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_glue  # noqa: E402
import glue_agreement  # noqa: E402
import glue_contender_common  # noqa: E402
import glue_pandas  # noqa: E402
import glue_polars  # noqa: E402
import glue_spark  # noqa: E402
import spark_xxhash  # noqa: E402
from peak_memory import TreeSampler, process_kind  # noqa: E402

FRENCH = ("Ce film est une véritable catastrophe, je ne le recommande à personne et surtout pas aux enfants qui "
          "auront peur pendant toute la soirée.")
ROWS = [
    # review, sentiment, rating, file, url
    ("Great <br /><br />movie, loved it", "positive", "9", "train/pos/0_9.txt", "tt1"),
    ("Great  movie, loved it!", "pos", "9", "train/pos/1_9.txt", "tt1"),  # near duplicate of the first: collapsed
    ("Same words here, fine and fine", "positive", "", "train/pos/2_0.txt", "tt2"),
    ("same words here fine and fine", "negative", "", "train/neg/3_0.txt", "tt2"),  # labels disagree: both out
    ("", "positive", "", "train/pos/4_0.txt", "tt3"),  # empty_text
    ("A perfectly ordinary review", "maybe", "", "train/pos/5_0.txt", "tt3"),  # unknown_label
    ("A perfectly ordinary review, labelled by its stars", "", "8", "train/pos/6_8.txt", "tt3"),  # from rating
    ("Dreadful acting&hellip; avoid it at all costs", "0", "", "train/neg/7_0.txt", "tt4"),
    ("Loved every minute of \x96 it", "+1", "", "train/pos/8_0.txt", ""),  # no url: grouped by text
    ("Escaped &lt;br /&gt;&lt;br /&gt;markup in this one", "Positive.", "", "train/pos/9_0.txt", "tt5"),
    ("The clich\u00c3\u00a9 of the year, don\u00e2\u20ac\u2122t miss it", "postive", "10", "train/pos/10_10.txt",
     "tt5"),  # mojibake, label typo
    ("Boring and far too long, nothing happens", "neg", "10", "train/neg/11_10.txt", "tt6"),  # rating conflict
    (FRENCH, "negative", "1", "train/neg/12_1.txt", "tt6"),  # foreign_language
    ("tiny", "positive", "", "train/pos/13_0.txt", "tt7"),  # too_short
    ("A tiny gem of a film, watch it", "1", "", "test/pos/14_0.txt", "tt8"),  # the key says test
    ("Boring and far too long, I left", "neg", "2", "train/neg/15_2.txt", ""),  # no url
    ("Cafe\u0301 society, a fine film indeed", "positive", "7", "train/pos/17_7.txt", "tt10"),  # NFC composes it
]
CP1252_ROW = b'"Caf\xe9 scenes were the best, a r\xe9al treat for all",positive,8,train/pos/16_8.txt,tt9\n'


@pytest.fixture()
def csv_folder(tmp_path) -> Path:
    """Two parts: UTF-8, and one in Windows-1252 bytes (which the job reads as Latin-1 and repairs)."""
    folder = tmp_path / "in"
    folder.mkdir()
    frame = pd.DataFrame(ROWS, columns=["review", "sentiment", "rating", "file", "url"])
    with gzip.open(folder / "part-0.csv.gz", "wt", encoding="utf-8") as handle:
        frame.to_csv(handle, index=False)
    with gzip.open(folder / "part-1.csv.gz", "wb") as handle:
        handle.write(b"review,sentiment,rating,file,url\n" + CP1252_ROW)
    return folder


def written(folder: Path) -> list[dict]:
    records = []
    for part in sorted(folder.glob("**/part-*.json.gz")):
        with gzip.open(part, "rt", encoding="utf-8") as handle:
            lines = handle.read().split("\n")
        assert lines[-1] == "", f"{part} does not end with a newline"
        assert all(lines[:-1]), f"{part} has blank lines"
        records += [json.loads(line) for line in lines[:-1]]
    return records


@pytest.fixture(scope="module")
def arguments() -> dict[str, str]:
    return {"min_rows": "1"}


def test_pandas_contender_applies_the_job_rules_and_writes_every_output(csv_folder, tmp_path, monkeypatch, arguments):
    monkeypatch.setattr(glue_pandas, "JSON_CHUNK", 2)  # several to_json slices per file
    counts = glue_pandas.pandas_clean(csv_folder, tmp_path / "out", "r1", arguments)

    assert counts["read"] == 18
    assert counts["reasons"] == {"empty_text": 1, "foreign_language": 1, "label_rating_conflict": 1,
                                 "near_duplicate_conflict": 2, "too_short": 1, "unknown_label": 1}
    assert counts["duplicates_collapsed"] == 1 and counts["kept"] == 18 - 7 - 1
    assert counts["repairs"] == {"cp1252_bytes": 1, "mojibake": 1, "escaped_html": 1, "label_spelling": 2,
                                 "label_from_rating": 1}
    paths = glue_contender_common.outputs(tmp_path / "out", "r1")
    kept = {r["review_id"]: r for r in written(paths["curated"])}
    assert kept["train/pos/0_9.txt"]["text"] == "Great movie, loved it"
    assert "train/pos/1_9.txt" not in kept  # collapsed into 0_9
    assert kept["train/pos/9_0.txt"]["text"] == "Escaped markup in this one" and kept["train/pos/9_0.txt"]["label"] == 1
    assert kept["train/pos/10_10.txt"]["text"] == "The cliché of the year, don’t miss it"
    assert kept["train/pos/16_8.txt"]["text"] == "Café scenes were the best, a réal treat for all"
    assert kept["train/pos/17_7.txt"]["text"] == "Caf\u00e9 society, a fine film indeed"
    assert kept["train/neg/7_0.txt"]["text"] == "Dreadful acting\u2026 avoid it at all costs"
    assert kept["train/pos/8_0.txt"]["text"] == "Loved every minute of \u2013 it"
    assert kept["train/pos/6_8.txt"]["label"] == 1 and kept["train/pos/6_8.txt"]["rating"] == 8
    assert kept["test/pos/14_0.txt"]["split"] == "test"
    assert {r["split"] for r in kept.values()} <= {"train", "validation", "test"}
    quarantine = {r["file"]: r["reject_reason"] for r in written(paths["quarantine"])}
    assert quarantine["train/neg/12_1.txt"] == "foreign_language" and quarantine["train/neg/11_10.txt"] == \
        "label_rating_conflict"
    assert all(r["run_id"] == "r1" for r in written(paths["quarantine"]))
    assert written(paths["duplicates"]) == [{"review_id": "train/pos/1_9.txt", "kept_review_id": "train/pos/0_9.txt"}]
    table = pd.read_parquet(paths["table"])
    assert sorted(table["review_id"]) == sorted(kept)


def test_polars_contender_agrees_with_pandas_row_for_row(csv_folder, tmp_path, arguments):
    pandas_counts = glue_pandas.pandas_clean(csv_folder, tmp_path / "pandas", "r1", arguments)
    polars_counts = glue_polars.polars_clean(csv_folder, tmp_path / "polars", "r1", arguments)

    agreement = glue_agreement.compare(glue_agreement.kept_rows(tmp_path / "polars", "r1"),
                                       glue_agreement.kept_rows(tmp_path / "pandas", "r1"))
    assert agreement["differing_rows"] == 0 and agreement["split_differs"] == 0, agreement
    assert agreement["kept_left"] == pandas_counts["kept"]
    python_rows = polars_counts.pop("python_rows")
    assert polars_counts == pandas_counts
    assert python_rows["decode_latin1_field"] == 1  # the Windows-1252 part only, its one non-ASCII field
    assert python_rows["NFC"] == 6  # the non-ASCII texts: NFC composes the one decomposed é
    assert python_rows["py3langid"] >= 1  # the French review is below the English-marker share
    paths = {name: glue_contender_common.outputs(tmp_path / name, "r1") for name in ("pandas", "polars")}
    for output in ("quarantine", "duplicates"):
        assert sorted(map(json.dumps, written(paths["polars"][output]))) == \
            sorted(map(json.dumps, written(paths["pandas"][output])))
    assert len(pd.read_parquet(paths["polars"]["table"])) == pandas_counts["kept"]


def test_agreement_counts_missing_changed_and_relabelled_rows(tmp_path):
    def write(root: Path, rows: list[dict]) -> None:
        folder = root / "curated" / "r1" / "train"
        folder.mkdir(parents=True)
        with gzip.open(folder / "part-00000.json.gz", "wt", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(r) + "\n" for r in rows))

    base = [{"review_id": str(i), "text": f"text {i}", "label": i % 2, "rating": None, "split": "train"}
            for i in range(6)]
    other = [dict(r) for r in base[1:]]  # row 0 missing
    other[0]["text"] = "changed"  # row 1
    other[1]["label"] = 1 - other[1]["label"]  # row 2
    other[2]["split"] = "validation"  # row 3: same text and label
    other.append({"review_id": "extra", "text": "x", "label": 1, "rating": None, "split": "train"})
    write(tmp_path / "a", base)
    write(tmp_path / "b", other)

    result = glue_agreement.compare(glue_agreement.kept_rows(tmp_path / "a", "r1"),
                                    glue_agreement.kept_rows(tmp_path / "b", "r1"))

    assert result["only_left"] == 1 and result["only_right"] == 1
    assert result["text_differs"] == 1 and result["label_differs"] == 1 and result["split_differs"] == 1
    assert result["differing_rows"] == 4
    same = glue_agreement.compare(glue_agreement.kept_rows(tmp_path / "a", "r1"),
                                  glue_agreement.kept_rows(tmp_path / "a", "r1"))
    assert same["differing_rows"] == 0


def test_spark_xxhash64_matches_spark_and_the_reference_xxh64():
    assert spark_xxhash.xxh64(b"", 0) == 0xEF46DB3751D8E999  # the XXH64 reference vectors
    assert spark_xxhash.xxh64(b"abc", 0) == 0x44BC2CF5AD770999
    # F.xxhash64(F.lit(seed), F.col("g")) on Spark 3.5.6
    assert spark_xxhash.spark_xxhash64_int_string(42, "url:http://www.imdb.com/title/tt0453418/usercomments") == \
        -6255454435395049558
    assert spark_xxhash.spark_xxhash64_int_string(7, "x" * 100) == -2016792539012317160
    assert spark_xxhash.spark_xxhash64_int_string(42, "é€") == 5792802102882732063
    assert spark_xxhash.spark_xxhash64_int_string(42, "") == -12619086009337663


def _job(job_id: int, submitted: int, ended: int, stage_ids: list[int], site: str | None) -> list[dict]:
    return [{"Event": "SparkListenerJobStart", "Job ID": job_id, "Submission Time": submitted,
             "Stage Infos": [{"Stage ID": s, "Stage Name": f"stage {s}", "Number of Tasks": 4} for s in stage_ids],
             "Properties": {"callSite.short": site} if site else {}},
            {"Event": "SparkListenerJobEnd", "Job ID": job_id, "Completion Time": ended}]


def _stage(stage_id: int, submitted: int, ended: int, tasks: int, python_bytes: int = 0) -> dict:
    return {"Event": "SparkListenerStageCompleted", "Stage Info": {
        "Stage ID": stage_id, "Number of Tasks": tasks, "Submission Time": submitted, "Completion Time": ended,
        "Accumulables": [{"ID": 7, "Name": "data sent to Python workers", "Value": str(python_bytes)}]}}


def test_breakdown_counts_jobs_stages_tasks_and_the_python_pass():
    events = [{"Event": "SparkListenerApplicationStart", "Timestamp": 1_500},
              *_job(0, 2_000, 5_000, [0], "first at /x/review_cleaning/classification.py:60"),
              _stage(0, 2_000, 5_000, 4, python_bytes=8_579_136),
              *_job(1, 6_000, 7_000, [0, 1], None),  # reuses stage 0 (skipped), runs stage 1
              _stage(1, 6_000, 7_000, 2),  # reads the cached Python output: not the Python pass
              *[{"Event": "SparkListenerTaskEnd", "Stage ID": 1,
                 "Task Metrics": {"Executor CPU Time": 250_000_000, "JVM GC Time": 125}} for _ in range(2)],
              *_job(2, 99_000, 99_500, [2], "outside the run")]

    result = glue_spark.breakdown(events, 1_000, 8_000)

    assert result["jobs"] == 2 and result["stages_run"] == 2 and result["tasks"] == 6
    assert result["python_pass"] == {"seconds": 3.0, "tasks": 4, "stages": 1}
    assert result["session_start_seconds"] == 0.5
    assert result["before_first_job_seconds"] == 1.0 and result["in_jobs_seconds"] == 4.0
    assert result["between_jobs_seconds"] == 1.0 and result["after_last_job_seconds"] == 1.0
    assert result["by_call_site"]["first at review_cleaning/classification.py:60"]["tasks"] == 4
    assert result["by_call_site"]["stage 1"] == {"jobs": 1, "seconds": 1.0, "stages": 1, "tasks": 2,
                                                 "task_cpu_seconds": 0.5, "gc_seconds": 0.25}


def test_breakdown_does_not_add_up_jobs_of_one_site_that_ran_at_once():
    """A query's broadcast joins run as jobs of their own, at the same time: the site took their union, not the sum."""
    site = "first at /x/review_cleaning/measure.py:24"
    events = [*_job(0, 1_000, 4_000, [0], site), *_job(1, 1_000, 4_500, [1], site), *_job(2, 5_000, 6_000, [2], site),
              _stage(0, 1_000, 4_000, 2), _stage(1, 1_000, 4_500, 2), _stage(2, 5_000, 6_000, 2)]

    result = glue_spark.breakdown(events, 0, 7_000)

    assert result["by_call_site"]["first at review_cleaning/measure.py:24"]["seconds"] == 4.5  # 3.5 at once, then 1
    assert result["by_call_site"]["first at review_cleaning/measure.py:24"]["jobs"] == 3
    assert result["in_jobs_seconds"] == 4.5


def test_tree_sampler_sees_a_childs_memory_and_cpu():
    code = "b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); import time; t = time.time()\n" \
           "while time.time() - t < 1.5: pass"
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, "
                               f"'-c', {code!r}])"])
    with TreeSampler(parent.pid, interval=0.05) as sampler:
        parent.wait()
        figures = sampler.snapshot()
    assert figures["peak_rss_mib"] >= 300
    assert figures["cpu_seconds"]["other"] >= 0.5  # the grandchild's busy loop
    assert process_kind("java", ["/usr/lib/jvm/bin/java", "-cp", "x"]) == "jvm"
    assert process_kind("python3", ["python3", "-m", "pyspark.daemon"]) == "python_workers"


def test_isolated_run_returns_the_childs_figures(csv_folder, tmp_path, arguments):
    result = bench_glue.run_isolated("pandas", csv_folder, tmp_path / "out", "r1", arguments)

    assert result["counts"]["read"] == 18 and result["seconds"] > 0 and result["peak_rss_mib"] > 0


def test_every_timed_run_starts_after_the_earlier_writes_reached_the_disk(csv_folder, tmp_path, arguments,
                                                                        monkeypatch):
    # settle() must run before each timed child starts, never inside the timing: the record shows the order.
    events = []
    monkeypatch.setattr(glue_spark, "settle", lambda: events.append("settle"))
    real_spawn = bench_glue.multiprocessing.get_context("spawn")

    class Context:
        def __getattr__(self, name):
            return getattr(real_spawn, name)

        def Process(self, *args, **kwargs):  # noqa: N802 (multiprocessing's name)
            events.append("contender starts")
            return real_spawn.Process(*args, **kwargs)

    monkeypatch.setattr(bench_glue.multiprocessing, "get_context", lambda method: Context())
    bench_glue.run_isolated("pandas", csv_folder, tmp_path / "out", "r1", arguments)

    def popen(*args, **kwargs):
        events.append("spark child starts")
        raise OSError("not started in this test")

    monkeypatch.setattr(glue_spark.subprocess, "Popen", popen)
    with pytest.raises(OSError, match="not started"):
        glue_spark.run_cli_cold(csv_folder, tmp_path / "spark", "r1", arguments, tmp_path / "events")
    assert events == ["settle", "contender starts", "settle", "spark child starts"]


def test_isolated_run_reports_a_failed_child_instead_of_raising(tmp_path, arguments):
    empty = tmp_path / "empty"
    empty.mkdir()  # no CSV parts: the child raises

    assert bench_glue.run_isolated("polars", empty, tmp_path / "out", "r1", arguments) == {
        "failed": "exited with code 1"}


def test_isolated_run_reports_the_childs_own_peak_memory_not_the_parents(csv_folder, tmp_path, arguments):
    """ru_maxrss survives fork + exec on Linux: a child spawned from a big parent would report the parent's peak."""
    ballast = bytearray(600 * 2**20)
    ballast[:: 4096] = b"\x01" * len(ballast[:: 4096])  # touch every page, so it is resident

    result = bench_glue.run_isolated("pandas", csv_folder, tmp_path / "out", "r1", arguments)

    assert len(ballast) == 600 * 2**20
    assert 0 < result["peak_rss_mib"] < 500, result


def test_a_spark_disagreement_or_a_failed_contender_fails_the_run():
    agree = {"differing_rows": 0, "only_left": 0, "only_right": 0, "text_differs": 0, "label_differs": 0,
             "split_differs": 0, "examples": []}
    good = {"rows": 10, "agreement": {"spark_vs_pandas": agree, "polars_vs_pandas": {**agree, "differing_rows": 3}},
            "pandas": {"seconds": 1.0}}
    assert bench_glue.disagreements([good]) == []  # the polars ceiling may differ: reported, not fatal
    bad = {**good, "agreement": {"spark_vs_pandas": {**agree, "differing_rows": 2, "text_differs": 2}},
           "polars": {"failed": "killed by SIGKILL"}}
    problems = bench_glue.disagreements([bad])
    assert len(problems) == 2 and "2 kept rows differ" in problems[0] and "polars failed" in problems[1]


def test_targets_are_judged_on_the_right_figures():
    results = [{"rows": 25_000, "stage_cold": {"seconds": 19.0}, "spark_cold": {"seconds": 25.0},
                "pandas": {"seconds": 5.0}},
               {"rows": 1_000_000, "spark_cold": {"seconds": 100.0}, "pandas": {"seconds": 140.0},
                "polars": {"seconds": 20.0}}]
    summary = bench_glue.ratios_and_targets(results)
    assert summary["targets"]["offline_clean_stage_cold_25k_seconds"]["met"] is True
    assert summary["targets"]["spark_cold_over_pandas_at_1M"] == {"value": 1.4, "target": ">= 1.5", "met": False}
    assert summary["ratios"]["1000000"]["polars_over_spark_cold"] == 5.0
    plan = bench_glue.session_plan([25_000, 1_000_000], {25_000: Path("a"), 1_000_000: Path("b")}, Path("w"))
    assert [(p["label"], p["rows"]) for p in plan] == [("stage_cold", 25_000), ("warm", 25_000), ("warm", 1_000_000)]
