"""train.py through the image's real training launchers (sagemaker-training, sagemaker-containers)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from ds_on_aws.sagemaker_jobs import CodeDeliveryError, check_training_spec, training_job_spec
from tests.container import harness
from tests.container.conftest import FAST_HYPERPARAMETERS

METRIC_LINE = re.compile(r"^validation:(accuracy|f1|roc_auc)=([0-9.]+)$", re.MULTILINE)
BAD_HYPERPARAMETERS = {**FAST_HYPERPARAMETERS, "C": "-1"}
SCRIPT_REASON = "training refused: invalid hyperparameters: C must be > 0, got -1.0"
# sagemaker-training's log lines (its logger's format), as opposed to what the script printed.
LAUNCHER_LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ - ")


def script_lines(output: str) -> list[str]:
    """What the script printed: the lines after the launcher's "Invoking script" block that are not its log."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if "Invoking script with the following command" in line)
    script = []
    for line in lines[start + 1:]:
        if LAUNCHER_LOG.match(line):
            if script:
                break
            continue
        if line.strip() and not line.startswith(harness.PYTHON.parent.as_posix()):
            script.append(line)
    return script


def test_train_py_trains_through_the_sagemaker_training_launcher(trained_job):
    output = trained_job.output
    assert trained_job.returncode == 0, output[-3000:]
    assert "Invoking script with the following command" in output
    assert " train.py " in output and "-C 4.0" in output  # one-letter key, one dash
    assert {name for name, _ in METRIC_LINE.findall(output)} == {"accuracy", "f1", "roc_auc"}
    assert float(dict(METRIC_LINE.findall(output))["accuracy"]) > 0.8
    assert "Reporting training SUCCESS" in output
    assert (trained_job.code_dir / "train.py").is_file()  # extracted from the code channel
    model = trained_job.model_dir
    assert (model / "model.joblib").is_file()
    assert (model / "metrics.json").is_file()
    assert (model / "code" / "inference.py").is_file()
    assert (model / "code" / "review_text.py").is_file()
    assert trained_job.failure is None


def test_s3_submit_directory_of_an_isolated_job_fails_without_credentials(tmp_path, data_channels):
    spec = training_job_spec(
        code_uri="s3://ds-on-aws-artifacts/code/sourcedir.tar.gz", data_channels=data_channels, network_isolation=False
    )
    # The builder refuses this spec for an isolated job ...
    with pytest.raises(CodeDeliveryError, match="cannot download"):
        check_training_spec(replace(spec, network_isolation=True))
    # ... because that is what the real launcher does with it in an isolated container.
    result = harness.run_training_job(tmp_path / "ml", spec, FAST_HYPERPARAMETERS, timeout=120)
    assert result.returncode != 0
    assert "NoCredentialsError" in result.output
    assert "NoCredentialsError" in (result.failure or "")
    assert list(result.code_dir.iterdir()) == []
    assert not (result.model_dir / "model.joblib").exists()


@pytest.mark.parametrize(
    ("launcher", "keeps_script_reason"),
    [(None, True), (harness.LEGACY_LAUNCHER, False)],
    ids=["sagemaker-training", "sagemaker-containers"],
)
def test_bad_hyperparameter_failure_reason(tmp_path, code_tarball, data_channels, launcher, keeps_script_reason):
    spec = training_job_spec(code_uri=str(code_tarball), data_channels=data_channels)
    result = harness.run_training_job(tmp_path / "ml", spec, BAD_HYPERPARAMETERS, entrypoint=launcher, timeout=120)
    assert result.returncode != 0
    failure = (result.failure or "").strip()
    if keeps_script_reason:
        assert failure == SCRIPT_REASON
    else:
        assert failure.startswith("framework error:") and failure != SCRIPT_REASON
        assert "ExecuteUserScriptError" in failure
    # Whatever the launcher does with the failure file, the log shows the reason as the script's last line.
    assert script_lines(result.output)[-1] == SCRIPT_REASON
