"""The shared text and label normalization (common/review_text.py)."""

import pytest
from review_text import C1_TO_CP1252, normalize_label, normalize_text


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
        ("&lt;b&gt;literal&lt;/b&gt;", "<b>literal</b>"),
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
