"""Every bad-usage path of ``ds-on-aws run`` ends with exit 2 and one clear line (no traceback)."""

from __future__ import annotations

import pytest

from ds_on_aws.cli import main
from ds_on_aws.local.cleaning import check_java
from ds_on_aws.local.errors import UsageError


def error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_missing_input_is_exit_2_with_one_line(tmp_path, capsys):
    assert main(["run", "--input", str(tmp_path / "nope.csv"), "--output-dir", str(tmp_path / "runs")]) == 2
    assert error_lines(capsys) == [f"error: input not found: {tmp_path / 'nope.csv'}"]


def test_unreadable_input_is_exit_2(tmp_path, capsys):
    broken = tmp_path / "reviews.jsonl.gz"
    broken.write_bytes(b"\x1f\x8b definitely not a gzip stream")
    assert main(["run", "--input", str(broken), "--output-dir", str(tmp_path / "runs")]) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot read input {broken}")
    run_dir = next((tmp_path / "runs").iterdir())
    assert (run_dir / "summary.json").is_file() and (run_dir / "report.html").is_file()


def test_missing_java_is_exit_2_and_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("review,sentiment\nGreat film,positive\n")
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(UsageError, match="Java not found"):
        check_java()
    assert main(["run", "--input", str(reviews), "--output-dir", str(tmp_path / "runs")]) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1
    assert "Java not found (no java on PATH)" in lines[0] and "Java 17" in lines[0] and "apt-get install" in lines[0]


def test_java_home_without_java_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(UsageError, match=f"JAVA_HOME={tmp_path} has no bin/java"):
        check_java()


def test_java_present_is_accepted():
    assert "version" in check_java()


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "--sample", "0"], "expected a positive number"),
    (["run", "--min-accuracy", "1.5"], "expected a value in [0, 1]"),
    (["run", "--port", "70000"], "port must be 0-65535"),
    (["run", "--hyperparameter", "C"], "expected KEY=VALUE"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_flags_are_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_data_quality_threshold_is_exit_2(tmp_path, capsys):
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("review,sentiment\nGreat film,positive\n")
    code = main(["run", "--input", str(reviews), "--data-quality", "min_stars=3", "--output-dir", str(tmp_path)])
    assert code == 2
    assert "unknown data-quality threshold 'min_stars'" in capsys.readouterr().err


def test_predict_without_text_is_exit_2(monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["predict", "--url", "http://127.0.0.1:9"]) == 2
    assert "no review text given" in capsys.readouterr().err
