"""The shared text and label normalization (common/review_text.py)."""

import pytest
from review_text import (
    C1_TO_CP1252,
    REPAIR_ESCAPED_HTML,
    REPAIR_LABEL_SPELLING,
    REPAIR_MOJIBAKE,
    clean_review_text,
    duplicate_hash,
    duplicate_key,
    normalize_label,
    normalize_text,
    parse_label,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Great film.<br /><br />Loved it", "Great film. Loved it"),
        ("a<BR>b", "a b"),
        ("the <i>best</i> one", "the best one"),
        ("<spoiler>he dies</spoiler>", "he dies"),
        ("5 < 6 and 7 > 3", "5 < 6 and 7 > 3"),
        ("I <3 it", "I <3 it"),
        ("Tom &amp; Jerry &#8230; &eacute;", "Tom & Jerry … é"),
        ("&lt;b&gt;escaped&lt;/b&gt; tags", "escaped tags"),  # HTML escaped before export is HTML
        ("a&lt;br /&gt;&lt;br /&gt;b", "a b"),
        ("&amp;lt;p&amp;gt;twice&amp;lt;/p&amp;gt;", "twice"),  # escaped twice
        ("5 &lt; 6 &amp; 7 &gt; 3", "5 < 6 & 7 > 3"),  # no tag: the text keeps its signs
        ("clichÃ©", "cliché"),  # UTF-8 read as Windows-1252
        ("donâ€™t", "don’t"),
        ("donât", "don’t"),  # ... read as Latin-1: C1 controls, then the same repair
        ("clichÃƒÂ©", "cliché"),  # read wrongly twice
        ("café naïve über", "café naïve über"),  # real accents stay
        ("1990\x962000", "1990–2000"),
        ("wait\x85 what", "wait… what"),
        ("\x93quoted\x94", "“quoted”"),
        ("odd\x8dchar", "odd char"),
        ("e\u0301", "é"),
        ("  tabs\tand\u00a0nbsp  \n ", "tabs and nbsp"),
        ("", ""),
    ],
)
def test_normalize_text(raw, clean):
    assert normalize_text(raw) == clean


def test_normalize_text_keeps_none_and_rejects_non_strings():
    assert normalize_text(None) is None
    with pytest.raises(TypeError, match="must be a string"):
        normalize_text(42)


def test_every_c1_character_is_mapped():
    assert sorted(C1_TO_CP1252) == [chr(c) for c in range(0x80, 0xA0)]
    assert all(not ("\x80" <= v <= "\x9f") for v in C1_TO_CP1252.values())


def test_normalize_text_is_idempotent():
    raw = "A <b>bold</b>\x97 claim &amp; more<br/>  done\x85"
    once = normalize_text(raw)
    assert normalize_text(once) == once


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ("positive", 1), (" POS ", 1), ("1", 1), ("+1", 1), (1, 1), (1.0, 1), (True, 1),
        ("negative", 0), ("Neg", 0), ("0", 0), ("-1", 0), (0, 0), (-1, 0), (False, 0),
        ("neutral", None), ("", None), (None, None), (2, None), ("7", None),
    ],
)
def test_normalize_label(value, label):
    assert normalize_label(value) == label


def test_clean_review_text_names_its_repairs():
    assert REPAIR_MOJIBAKE in clean_review_text("na\u00c3\u00afve")[1]
    assert REPAIR_ESCAPED_HTML in clean_review_text("x&lt;br/&gt;y")[1]
    assert clean_review_text("plain text")[1] == ()
    assert clean_review_text("caf\u00e9")[1] == ()


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("positive", (1, None)), ("Positive.", (1, REPAIR_LABEL_SPELLING)), ("'neg'", (0, REPAIR_LABEL_SPELLING)),
        ("p", (1, REPAIR_LABEL_SPELLING)), ("N", (0, REPAIR_LABEL_SPELLING)), ("postive", (1, REPAIR_LABEL_SPELLING)),
        ("negtive", (0, REPAIR_LABEL_SPELLING)), ("NEGATIV", (0, REPAIR_LABEL_SPELLING)), ("neutral", (None, None)),
        ("mixed", (None, None)), ("x", (None, None)), ("", (None, None)), (None, (None, None)), (2, (None, None)),
        ("?!", (None, None)),
    ],
)
def test_parse_label_repairs_spellings_but_never_guesses(value, parsed):
    assert parse_label(value) == parsed


def test_duplicate_key_ignores_case_spacing_and_punctuation_only():
    assert duplicate_key("Great film!!  Loved IT.") == duplicate_key("great film, loved it") == "great film loved it"
    assert duplicate_key("\u00c9t\u00e9 -- chaud") == duplicate_key("\u00e9t\u00e9 chaud")
    assert duplicate_hash("Great film") == duplicate_hash("great  film!") != duplicate_hash("great films")
