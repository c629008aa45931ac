"""The model's building blocks: NB log-count-ratio weighting, parameter validation, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import sentiment_model
from sentiment_model import ModelParams, NBLogCountRatio

from tests.training.sm_helpers import make_reviews


def test_nb_ratio_matches_hand_computation():
    # 4 documents x 3 features; feature 0 only in positives, feature 1 only in negatives, feature 2 everywhere.
    X = sp.csr_matrix(np.array([[2, 0, 1], [1, 0, 1], [0, 3, 1], [0, 1, 1]], dtype=float))
    y = np.array([1, 1, 0, 0])
    nb = NBLogCountRatio(alpha=1.0).fit(X, y)
    p = np.array([2, 0, 2]) + 1.0  # documents containing each feature among positives, smoothed
    q = np.array([0, 2, 2]) + 1.0
    expected = np.log((p / p.sum()) / (q / q.sum()))
    np.testing.assert_allclose(nb.ratio_, expected)
    assert nb.ratio_[0] > 0 > nb.ratio_[1]
    assert abs(nb.ratio_[2]) < 1e-12  # a feature present in every document carries no evidence
    np.testing.assert_allclose(nb.transform(X).toarray(), X.toarray() * expected)


def test_nb_ratio_is_binarized_counts_not_sums():
    y = np.array([1, 0])
    once = NBLogCountRatio().fit(sp.csr_matrix([[1.0], [1.0]]), y)
    many = NBLogCountRatio().fit(sp.csr_matrix([[50.0], [1.0]]), y)
    np.testing.assert_allclose(once.ratio_, many.ratio_)


@pytest.mark.parametrize("labels", [[1, 1, 1], [0, 0, 0], [0, 2, 1]])
def test_nb_ratio_needs_both_binary_classes(labels):
    with pytest.raises(ValueError, match="labels 0 and 1"):
        NBLogCountRatio().fit(sp.csr_matrix(np.ones((3, 2))), np.array(labels))


def test_nb_ratio_rejects_wrong_width_and_bad_alpha():
    nb = NBLogCountRatio().fit(sp.csr_matrix(np.eye(2)), np.array([0, 1]))
    with pytest.raises(ValueError, match="3 features"):
        nb.transform(sp.csr_matrix(np.ones((1, 3))))
    with pytest.raises(ValueError, match="alpha"):
        NBLogCountRatio(alpha=0).fit(sp.csr_matrix(np.eye(2)), np.array([0, 1]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"C": 0.0}, "C must be > 0"),
        ({"word_ngram_max": 0}, "word_ngram_max"),
        ({"word_min_df": 0}, "word_min_df"),
        ({"word_max_df": 1.5}, "word_max_df"),
        ({"use_char_ngrams": True, "char_ngram_min": 5, "char_ngram_max": 3}, "char n-gram range"),
        ({"nb_alpha": -1.0}, "nb_alpha"),
        ({"max_iter": 0}, "max_iter"),
        ({"n_jobs": 0}, "n_jobs"),
    ],
)
def test_params_validation_names_the_problem(change, message):
    with pytest.raises(ValueError, match=message):
        ModelParams(**change).validate()


def test_char_range_not_checked_when_char_ngrams_are_off():
    ModelParams(use_char_ngrams=False, char_ngram_min=9, char_ngram_max=1).validate()
    model = sentiment_model.build_model(ModelParams(use_char_ngrams=False))
    assert [name for name, _ in model.named_steps["features"].transformer_list] == ["word"]


def _fit_predict(records, params):
    model = sentiment_model.build_model(params)
    model.fit([r["text"] for r in records], np.array([r["label"] for r in records]))
    return model, sentiment_model.positive_probability(model, ["great film", "boring and awful plot", "the movie"])


def test_fit_is_deterministic_and_learns_the_signal():
    records = make_reviews(240, seed=3, noise=0.3)
    params = ModelParams(C=2.0, word_ngram_max=2, char_ngram_max=4, n_jobs=1)
    first_model, first = _fit_predict(records, params)
    _, second = _fit_predict(records, params)
    np.testing.assert_array_equal(first, second)
    assert first[0] > 0.5 > first[1]


def test_compact_drops_pruned_vocabulary_only(small_model):
    for _, vectorizer in small_model.named_steps["features"].transformer_list:
        assert not hasattr(vectorizer, "stop_words_")
        assert len(vectorizer.vocabulary_) > 0
