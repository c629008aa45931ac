"""The exported linear scorer against the real fitted pipeline: same probabilities, clear errors, no scikit-learn."""

from __future__ import annotations

import json
import re
import zipfile

import linear_scorer
import numpy as np
import pytest
import sentiment_model
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.training.sm_helpers import make_reviews

# Texts the training corpus gets on top of the synthetic reviews, so their n-grams are in the vocabulary.
EXTRA_TRAINING = [
    ("Ünïcödé naïve café — great!!! really?! 映画 好き", 1),
    ("superb superb superb superb, loved it!!", 1),
    ("awful?? awful?? why?! a waste_of time", 0),
    ("Straße ΣΊΣΥΦΟΣ 123 4th 2nd-rate dull", 0),
] * 2
PROBES = [
    "Ünïcödé naïve café — great!!! really?! 映画 好き",
    "superb superb superb superb superb superb superb superb superb",
    "great great great great! ! ! ? ? ?",
    "awful?? awful?? why?! a waste_of time",
    "qwertyuiop zxcvbnm asdfghjkl",  # every token out of vocabulary
    "superb qwertyuiop superb",  # an unknown token between two known ones: no bigram across it
    "...",  # empty after tokenisation
    "— … «» ¡¿",
    "",
    "superb",
    "!",
    "Straße ΣΊΣΥΦΟΣ 123 4th 2nd-rate dull",
    "THE MOVIE WAS GREAT, I LOVED IT",
    "tab\tseparated\nlines\r\nand  double  spaces",
    "ﬁne ligature İstanbul ǅemal",  # characters whose lower-casing changes the length
    "emoji 😀 👍🏽 great",
]
PARAMS = sentiment_model.ModelParams(C=4.0, word_min_df=1, word_max_df=0.9, n_jobs=1)


def fit(params: sentiment_model.ModelParams, **set_params):
    records = make_reviews(300, seed=5)
    texts = [r["text"] for r in records] + [t for t, _ in EXTRA_TRAINING]
    labels = [r["label"] for r in records] + [y for _, y in EXTRA_TRAINING]
    model = sentiment_model.build_model(params)
    if set_params:
        model.set_params(**set_params)
    model.fit(texts, np.array(labels))
    return sentiment_model.compact(model), texts


@pytest.fixture(scope="module")
def fitted():
    return fit(PARAMS)


@pytest.fixture(scope="module")
def exported(fitted, tmp_path_factory):
    model, _ = fitted
    folder = tmp_path_factory.mktemp("model")
    path = linear_scorer.export(model, folder)
    return folder, path


@pytest.fixture(scope="module")
def scorer(exported):
    return linear_scorer.LinearScorer.load(exported[0])


def assert_same_probabilities(model, scorer, texts):
    expected = sentiment_model.positive_probability(model, texts)
    got = scorer.positive_probability(texts)
    assert got.shape == (len(texts),)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


# --- the same probabilities as the pipeline ----------------------------------------------------------------------
def test_probes_match_the_pipeline_one_at_a_time_and_together(fitted, exported):
    model, _ = fitted
    scorer = linear_scorer.LinearScorer.load(exported[0])
    for text in PROBES:
        assert_same_probabilities(model, scorer, [text])
    assert_same_probabilities(model, scorer, PROBES)


def test_a_large_batch_matches_the_pipeline(fitted, exported):
    model, texts = fitted
    scorer = linear_scorer.LinearScorer.load(exported[0])
    batch = texts + PROBES + [a + " " + b for a, b in zip(texts, reversed(texts), strict=True)]
    assert_same_probabilities(model, scorer, batch)
    np.testing.assert_allclose(scorer.predict_proba(batch[:5]), model.predict_proba(batch[:5]), rtol=0, atol=1e-9)
    assert list(scorer.classes_) == list(model.classes_)


def test_probes_really_hit_the_vocabulary(fitted):
    """Guard against a vacuous test: the probes' n-grams, unicode and "!?" included, are model features."""
    vocabulary = fitted[0].named_steps["features"].transformer_list[0][1].vocabulary_
    for term in ("ünïcödé naïve café", "great ! !", "映画", "superb superb superb", "? awful ?", "σίσυφος"):
        assert term in vocabulary, term


def test_an_empty_batch_gives_no_probabilities(exported):
    scorer = linear_scorer.LinearScorer.load(exported[0])
    assert scorer.positive_probability([]).shape == (0,)


@pytest.mark.parametrize(
    ("params", "set_params"),
    [
        (sentiment_model.ModelParams(word_ngram_max=1, word_min_df=1, n_jobs=1), {}),
        (sentiment_model.ModelParams(word_ngram_max=4, word_min_df=1, sublinear_tf=False, n_jobs=1), {}),
        (sentiment_model.ModelParams(word_min_df=2, word_max_df=0.5, n_jobs=1), {}),  # "the" pruned, "of the" kept
        (PARAMS, {"features__word__dtype": np.float64}),
        (PARAMS, {"features__word__lowercase": False, "features__word__ngram_range": (2, 3)}),
    ],
    ids=["unigrams", "4-grams-linear-tf", "max-df-prunes-prefixes", "float64", "cased-2-3-grams"],
)
def test_other_settings_of_the_word_branch_match_too(tmp_path, params, set_params):
    model, texts = fit(params, **set_params)
    linear_scorer.export(model, tmp_path)
    assert_same_probabilities(model, linear_scorer.LinearScorer.load(tmp_path), texts[:50] + PROBES)


# --- what it refuses -------------------------------------------------------------------------------------------
def test_char_ngram_models_are_refused_at_export(tmp_path):
    model, _ = fit(sentiment_model.ModelParams(use_char_ngrams=True, char_ngram_max=4, n_jobs=1))
    with pytest.raises(linear_scorer.UnsupportedModelError, match=r"use_char_ngrams=True.*serve model.joblib"):
        linear_scorer.export(model, tmp_path)
    assert not (tmp_path / linear_scorer.SCORER_FILENAME).exists()


def test_other_vectorizer_settings_are_refused(tmp_path):
    model, _ = fit(PARAMS, features__word__stop_words=["the"])
    with pytest.raises(linear_scorer.UnsupportedModelError, match="stop_words"):
        linear_scorer.export(model, tmp_path)


# --- the file --------------------------------------------------------------------------------------------------
def test_the_file_has_a_versioned_header(exported):
    with np.load(exported[1]) as archive:
        header = json.loads(archive["header"].tobytes())
    assert header["format_version"] == linear_scorer.FORMAT_VERSION
    assert header["token_pattern"] == sentiment_model.WORD_TOKEN_PATTERN
    assert header["ngram_range"] == [1, 3] and header["lowercase"] is True and header["dtype"] == "float32"
    assert {"python", "numpy", "scikit-learn"} <= set(header["library_versions"])


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(linear_scorer.ScorerFileError, match=re.escape(str(tmp_path / "linear_scorer.npz"))):
        linear_scorer.LinearScorer.load(tmp_path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip-bytes"])
def test_a_corrupted_file_is_named(tmp_path, exported, damage):
    data = bytearray(exported[1].read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = bytearray(b"not a zip file at all")
    else:
        middle = len(data) // 2
        data[middle : middle + 64] = bytes(64)
    (tmp_path / linear_scorer.SCORER_FILENAME).write_bytes(bytes(data))
    with pytest.raises(linear_scorer.ScorerFileError, match=re.escape(str(tmp_path / "linear_scorer.npz"))):
        linear_scorer.LinearScorer.load(tmp_path)


def _rewrite(source, target, change):
    with np.load(source) as archive:
        arrays = {name: archive[name] for name in archive.files}
    change(arrays)
    with open(target, "wb") as handle:
        np.savez(handle, **arrays)


def test_another_format_version_is_refused(tmp_path, exported):
    def bump(arrays):
        header = json.loads(arrays["header"].tobytes())
        header["format_version"] = linear_scorer.FORMAT_VERSION + 1
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)

    _rewrite(exported[1], tmp_path / linear_scorer.SCORER_FILENAME, bump)
    with pytest.raises(linear_scorer.ScorerFileError, match=r"linear_scorer.npz has format version 2; .* version 1"):
        linear_scorer.LinearScorer.load(tmp_path)


def test_a_missing_array_is_named(tmp_path, exported):
    _rewrite(exported[1], tmp_path / linear_scorer.SCORER_FILENAME, lambda arrays: arrays.pop("table_keys_3"))
    with pytest.raises(linear_scorer.ScorerFileError, match=r"linear_scorer.npz is incomplete .*table_keys_3"):
        linear_scorer.LinearScorer.load(tmp_path)


def test_the_file_is_a_plain_zip_of_arrays(exported):
    """No pickles: the scorer loads with allow_pickle=False, so a model file cannot run code."""
    with zipfile.ZipFile(exported[1]) as archive:
        assert all(name.endswith(".npy") for name in archive.namelist())


# --- building blocks -------------------------------------------------------------------------------------------
def test_the_default_token_pattern_is_the_models():
    assert linear_scorer.WORD_TOKEN_PATTERN == sentiment_model.WORD_TOKEN_PATTERN


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=60) | st.text(max_size=30))
def test_the_fast_tokenizer_equals_the_regex(text):
    fast = linear_scorer._word_tokenizer(sentiment_model.WORD_TOKEN_PATTERN)
    assert fast(text) == re.findall(sentiment_model.WORD_TOKEN_PATTERN, text)


def test_the_hash_table_finds_every_key_and_nothing_else():
    rng = np.random.default_rng(0)
    for size in (1, 2, 3, 100, 5000):
        keys = np.unique(rng.integers(1, 2**62, size=size))
        table_keys, table_nodes = linear_scorer._hash_table(keys)
        assert (table_keys != -1).sum() == len(keys) and len(table_keys) >= 2 * len(keys)
        table = (table_keys, table_nodes, linear_scorer._reach(table_keys))
        others = np.setdiff1d(rng.integers(1, 2**62, size=1000), keys)
        for query, expected in ((keys, np.arange(len(keys))), (others, np.full(len(others), -1))):
            for part in (query, query[:3], query[:300]):  # probing slot by slot, at once, and both
                np.testing.assert_array_equal(linear_scorer._probe(table, part), expected[: len(part)])


def test_clustered_keys_are_found_at_any_distance():
    """Keys that all hash to neighbouring slots: probe sequences as long as the table allows."""
    bits = 11  # the table size for 1,000 keys: 2,048 slots
    candidates = np.unique(np.random.default_rng(1).integers(1, 2**62, size=200_000))
    home = linear_scorer._home_slots(candidates, bits)
    crowded = candidates[(home >= 100) & (home < 104)][:60]  # 60 keys wanting 4 slots
    keys = np.unique(np.concatenate([crowded, np.setdiff1d(candidates, crowded)[:940]]))
    table_keys, table_nodes = linear_scorer._hash_table(keys)
    table = (table_keys, table_nodes, linear_scorer._reach(table_keys))
    assert len(keys) == 1000 and len(table_keys) == 1 << bits and table[2] > 50
    for part in (keys, keys[::97], keys[-2:]):
        np.testing.assert_array_equal(linear_scorer._probe(table, part), np.searchsorted(keys, part))


ASCII_TEXTS = st.lists(
    st.text(
        alphabet=st.sampled_from("superb awful dull great Loved waste_of time!?.,\x00\t 1234567890-xyzzy"), max_size=80
    )
    | st.text(alphabet=st.characters(max_codepoint=127), max_size=40),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(ASCII_TEXTS)
def test_the_byte_level_ascii_tokens_equal_the_regex_tokens(scorer, texts):
    got_ids, got_lengths = scorer._ascii(texts) if texts else (np.zeros(0), np.zeros(0))
    want_ids, want_lengths = scorer._regex_token_ids(texts)
    np.testing.assert_array_equal(got_lengths, want_lengths)
    np.testing.assert_array_equal(got_ids, want_ids)


def test_long_ascii_tokens_are_found_too(tmp_path):
    model, _ = fit(PARAMS)
    vocabulary = model.named_steps["features"].transformer_list[0][1].vocabulary_
    long_terms = [term for term in vocabulary if " " not in term and len(term) > 8 and term.isascii()]
    assert long_terms, "the corpus has no token longer than 8 bytes"
    linear_scorer.export(model, tmp_path)
    scorer = linear_scorer.LinearScorer.load(tmp_path)
    ids, _ = scorer._ascii(long_terms)
    assert (ids.reshape(-1, 2)[:, 0] > 0).all() and (ids.reshape(-1, 2)[:, 1] == 0).all()
