"""Spark's ``xxhash64(...)`` in plain Python, so the single-process contenders split rows exactly like the job.

Spark's ``F.xxhash64(a, b)`` is XXH64 chained over its arguments: the running hash starts at 42 and becomes the seed
of the next argument; a 32-bit integer is hashed as its 4 little-endian bytes, a string as its UTF-8 bytes; the
result is read as a signed 64-bit integer (which is what the job sorts by).
"""

from __future__ import annotations

import struct

MASK = 0xFFFFFFFFFFFFFFFF
P1, P2, P3, P4, P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63,
                      0x27D4EB2F165667C5)
SPARK_SEED = 42


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & MASK


def _round(acc: int, lane: int) -> int:
    return (_rotl((acc + lane * P2) & MASK, 31) * P1) & MASK


def _merge(h: int, acc: int) -> int:
    return ((h ^ _round(0, acc)) * P1 + P4) & MASK


def xxh64(data: bytes, seed: int) -> int:
    """The standard XXH64 of ``data`` (an unsigned 64-bit integer); ``seed`` is taken modulo 2**64."""
    seed &= MASK
    n = len(data)
    i = 0
    if n >= 32:
        v = [(seed + P1 + P2) & MASK, (seed + P2) & MASK, seed, (seed - P1) & MASK]
        while i + 32 <= n:
            lanes = struct.unpack_from("<4Q", data, i)
            v = [_round(a, b) for a, b in zip(v, lanes, strict=True)]
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & MASK
        for acc in v:
            h = _merge(h, acc)
    else:
        h = (seed + P5) & MASK
    h = (h + n) & MASK
    while i + 8 <= n:
        h = (_rotl(h ^ _round(0, struct.unpack_from("<Q", data, i)[0]), 27) * P1 + P4) & MASK
        i += 8
    if i + 4 <= n:
        h = (_rotl(h ^ (struct.unpack_from("<I", data, i)[0] * P1 & MASK), 23) * P2 + P3) & MASK
        i += 4
    while i < n:
        h = (_rotl(h ^ (data[i] * P5 & MASK), 11) * P1) & MASK
        i += 1
    h ^= h >> 33
    h = (h * P2) & MASK
    h ^= h >> 29
    h = (h * P3) & MASK
    return h ^ (h >> 32)


def spark_xxhash64_int_string(number: int, text: str) -> int:
    """Spark's ``xxhash64(lit(number), text)`` for a 32-bit ``number``: a signed 64-bit integer."""
    h = xxh64(struct.pack("<i", number), SPARK_SEED)
    h = xxh64(text.encode("utf-8"), h)
    return h - (1 << 64) if h >= 1 << 63 else h
