"""The language rule's model: py3langid's own results, from the package or from the unpacked copy in the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("py3langid")

from review_cleaning import language  # noqa: E402

TEXTS = {
    "fr": "Ce film est vraiment magnifique, les acteurs jouent très bien et la musique est belle.",
    "de": "Dieser Film ist wirklich großartig, die Schauspieler spielen sehr gut und die Musik ist schön.",
    "es": "Esta película es realmente maravillosa, los actores actúan muy bien y la música es preciosa.",
    "en": "Not a word of it rings true; the plot drags and nothing happens for two hours straight.",
}


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A cache root of the test's own; the identifier is built again before and after the test."""
    root = tmp_path / "cache"
    monkeypatch.setenv(language.MODEL_CACHE_ENV, str(root))
    language._identifier.cache_clear()
    yield root
    language._identifier.cache_clear()


def _reference():
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_modelpath(Path(MODEL_DIR) / MODEL_FILE, norm_probs=True)


def _results(identifier) -> dict:
    return {code: identifier.classify(text) for code, text in TEXTS.items()}


def _model_folder(root: Path) -> Path:
    [folder] = [p for p in root.iterdir() if p.name.startswith("py3langid-")]
    return folder


def test_the_first_build_unpacks_the_model_keeps_it_and_gives_py3langids_own_results(cache):
    expected = _results(_reference())
    assert [code for code, (found, _) in expected.items()] == list(TEXTS)  # the texts are what they say
    assert _results(language._identifier()) == expected
    folder = _model_folder(cache)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{name}.npy" for name in language.MODEL_ARRAYS)
    assert [p.name for p in cache.iterdir()] == [folder.name]  # no scratch folder left beside it


def test_a_later_build_maps_the_kept_arrays_instead_of_unpacking(cache, monkeypatch):
    expected = _results(language._identifier())
    language._identifier.cache_clear()
    monkeypatch.setattr(language, "_unpack", lambda packed: pytest.fail("unpacked although the cache holds it"))
    assert _results(language._identifier()) == expected


def test_a_damaged_cache_is_replaced_and_the_results_stay_right(cache):
    expected = _results(language._identifier())
    ptc = _model_folder(cache) / "ptc.npy"
    ptc.write_bytes(ptc.read_bytes()[:1000])  # cut short, as by a full disk
    language._identifier.cache_clear()
    assert _results(language._identifier()) == expected
    assert _model_folder(cache).joinpath("ptc.npy").stat().st_size > 1000


def test_without_a_writable_cache_the_model_is_read_from_the_package(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv(language.MODEL_CACHE_ENV, str(blocker))
    language._identifier.cache_clear()
    try:
        assert _results(language._identifier()) == _results(_reference())
    finally:
        language._identifier.cache_clear()
    assert blocker.read_text() == "a file where the cache folder would go"


def test_the_cache_can_be_turned_off_and_its_name_follows_the_model(monkeypatch, tmp_path):
    monkeypatch.setenv(language.MODEL_CACHE_ENV, "off")
    assert language.model_cache_folder("0.4.0", b"model") is None
    monkeypatch.setenv(language.MODEL_CACHE_ENV, str(tmp_path))
    first = language.model_cache_folder("0.4.0", b"model")
    assert first.parent == tmp_path
    assert language.model_cache_folder("0.4.0", b"other model") != first
    assert language.model_cache_folder("0.4.1", b"model") != first


def test_a_second_writer_leaves_the_first_copy_and_no_scratch(cache):
    language._identifier()
    folder = _model_folder(cache)
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    language._write_cached(folder, language._read_cached(folder))  # as a worker that lost the race
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert [p.name for p in cache.iterdir()] == [folder.name]
