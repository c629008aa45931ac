"""The container tier: train.py and the inference handlers under the image's real launcher and serving toolkit.

Each test drives ``.venv-container/bin/python`` (the image's Python 3.12 packages) in subprocesses; the tier skips
when that virtual environment is missing (``make container-venv`` builds it; ``make test`` does it first).
"""

from __future__ import annotations

import pytest

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
