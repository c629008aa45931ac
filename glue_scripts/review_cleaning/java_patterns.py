"""Python regex -> Java regex, so that Spark's regexp_replace matches exactly what Python's ``re`` matches.

review_text's patterns are written for both, but three constructs mean something else in Java: ``\\s`` (Python:
Unicode whitespace incl. U+001C-U+001F; Java: ASCII only), ``\\b`` (Python: Unicode \\w; Java 17: letters and
digits only) and ``(?i)`` (Python also folds U+0130/U+0131 onto "i"). They are replaced by explicit classes
computed from Python itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable


def _ranges_to_java_class(codepoints: Iterable[int]) -> str:
    """``[...]`` listing ``codepoints`` as ``\\x{..}`` ranges (valid Java regex)."""
    points = sorted(set(codepoints))
    parts: list[str] = []
    start = prev = None
    for cp in [*points, None]:
        if cp is not None and prev is not None and cp == prev + 1:
            prev = cp
            continue
        if start is not None:
            parts.append(f"\\x{{{start:X}}}" if start == prev else f"\\x{{{start:X}}}-\\x{{{prev:X}}}")
        start = prev = cp
    return "[" + "".join(parts) + "]"


@functools.cache
def _all_code_points() -> str:
    return "".join(map(chr, range(0x110000)))


@functools.cache
def python_matches(pattern: str, ascii_only: bool = False) -> str:
    """A Java class of every code point that Python's ``re`` matches with ``pattern`` (one C-speed scan).

    ``ascii_only`` keeps code points below 128: small classes that Java tests fast, exact for ASCII-only text.
    """
    universe = _all_code_points()[:128] if ascii_only else _all_code_points()
    return _ranges_to_java_class(map(ord, re.findall(pattern, universe)))


def python_class(kind: str, ascii_only: bool = False) -> str:
    return python_matches(r"\s" if kind == "s" else r"\w", ascii_only)


def _case_class(letter: str, ascii_only: bool = False) -> str:
    return python_matches("(?i)" + re.escape(letter), ascii_only)


@functools.cache
def java_regex(pattern: str, ascii_only: bool = False) -> str:
    """Translate one of review_text's Python patterns to a Java pattern with the same matches.

    Supported: a leading ``(?i)`` (ASCII letters outside classes are expanded to Python's case class), ``\\s``
    and ``\\b`` outside classes, literal characters, groups, quantifiers and classes without letters under
    ``(?i)``. Anything else raises ``ValueError`` so a future pattern change cannot silently diverge.
    With ``ascii_only`` the classes hold only ASCII code points: the result is exact for ASCII-only text and
    several times faster (a class with supplementary code points puts Java's matcher in code-point mode).
    """
    ignore_case = pattern.startswith("(?i)")
    body = pattern[4:] if ignore_case else pattern
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt == "s":
                out.append(python_class("s", ascii_only))
            elif nxt == "b":
                word = python_class("w", ascii_only)
                out.append(f"(?:(?<={word})(?!{word})|(?<!{word})(?={word}))")
            elif nxt in "dwSWBDAZz":
                raise ValueError(f"java_regex: unsupported escape \\{nxt} in {pattern!r}")
            else:
                out.append(body[i:i + 2])
            i += 2
        elif ch == "[":
            end = body.index("]", i + 2 if body[i + 1] in "^]" else i + 1)
            cls = body[i:end + 1]
            if ignore_case and re.search(r"[A-Za-z]", cls.replace("\\", "")):
                raise ValueError(f"java_regex: letters in a class under (?i) are not supported: {cls!r}")
            if "\\s" in cls or "\\w" in cls or "\\d" in cls:
                raise ValueError(f"java_regex: class escapes are not supported: {cls!r}")
            out.append(cls)
            i = end + 1
        elif ignore_case and ch.isascii() and ch.isalpha():
            out.append(_case_class(ch, ascii_only))
            i += 1
        elif not ch.isascii():
            out.append(f"\\x{{{ord(ch):X}}}")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def java_class_of_chars(chars: str) -> str:
    """A character class pattern string (review_text's whitespace class) with non-ASCII written as \\x{..}."""
    return "".join(f"\\x{{{ord(c):X}}}" if not c.isascii() or not c.isprintable() else c for c in chars)
