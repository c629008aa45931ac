"""The container tier: train.py and the inference handlers under the image's real launcher and serving toolkit.

Each test drives ``.venv-container/bin/python`` (the image's Python 3.12 packages) in subprocesses; the tier skips
when that virtual environment is missing (``make container-venv`` builds it; ``make test`` does it first).
"""

from __future__ import annotations

import pytest

from ds_on_aws.packaging import build_sourcedir_tarball
from ds_on_aws.sagemaker_jobs import SOURCEDIR_NAME, training_job_spec
from tests.container import harness
from tests.training.sm_helpers import make_reviews, write_channel

_MISSING = harness.missing_reason()

# Small and single-process, so a job takes seconds; "C" also checks the one-dash rendering of one-letter keys.
FAST_HYPERPARAMETERS = {"C": "4.0", "n_jobs": "1", "word_ngram_max": "1", "char_ngram_min": "2", "char_ngram_max": "3"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/container/" in item.nodeid:
            item.add_marker(pytest.mark.container)
            item.add_marker(pytest.mark.slow)
            if _MISSING:
                item.add_marker(pytest.mark.skip(reason=_MISSING))


@pytest.fixture(scope="session")
def data_channels(tmp_path_factory) -> dict[str, str]:
    """Glue-shaped ``train`` and ``validation`` folders (gzip JSON Lines part files), standing for S3 prefixes."""
    root = tmp_path_factory.mktemp("channels")
    train = write_channel(root / "train", make_reviews(600, seed=1))
    validation = write_channel(root / "validation", make_reviews(200, seed=2))
    return {"train": str(train), "validation": str(validation)}


@pytest.fixture(scope="session")
def code_tarball(tmp_path_factory):
    """The real ``sourcedir.tar.gz`` where the upload would put it (a local file standing for the S3 object)."""
    return build_sourcedir_tarball(tmp_path_factory.mktemp("s3") / SOURCEDIR_NAME)


@pytest.fixture(scope="session")
def trained_job(tmp_path_factory, code_tarball, data_channels) -> harness.JobResult:
    """One isolated training job of the state machine's spec, run by the sagemaker-training launcher."""
    spec = training_job_spec(code_uri=str(code_tarball), data_channels=data_channels)
    return harness.run_training_job(tmp_path_factory.mktemp("job") / "ml", spec, FAST_HYPERPARAMETERS)


@pytest.fixture(scope="session")
def model_tarball(trained_job, tmp_path_factory):
    """``model.tar.gz`` of the trained job's model folder, as SageMaker uploads it."""
    if trained_job.returncode != 0:
        pytest.fail(f"the training job failed: {trained_job.output[-2000:]}")
    return harness.package_model_dir(trained_job.model_dir, tmp_path_factory.mktemp("artifacts") / "model.tar.gz")
