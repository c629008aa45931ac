"""Shared fixtures for the training/inference tests: a small model fitted once per session, in process."""

from __future__ import annotations

import numpy as np
import pytest
import sentiment_model

from tests.training.sm_helpers import make_reviews

# Small and single-process: a fit takes well under a second, so the handler tests stay fast.
SMALL_PARAMS = sentiment_model.ModelParams(C=4.0, word_ngram_max=2, char_ngram_min=2, char_ngram_max=4, n_jobs=1)


@pytest.fixture(scope="session")
def small_model():
    records = make_reviews(300, seed=11)
    model = sentiment_model.build_model(SMALL_PARAMS)
    model.fit([r["text"] for r in records], np.array([r["label"] for r in records]))
    return sentiment_model.compact(model)
