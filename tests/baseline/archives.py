"""Comprehend output archives built in the tests, in the shape the AWS documentation gives.

``output/output.tar.gz`` of a sentiment detection job holds one file (``output``) of JSON lines, one per input line
(``Line`` 0-based, ``File`` the input object's name); a document Comprehend could not score has ``ErrorCode`` and
``ErrorMessage`` instead of ``Sentiment`` and ``SentimentScore``.
"""

from __future__ import annotations

import io
import json
import tarfile


def scored(line: int, sentiment: str, file: str = "documents.txt", **scores: float) -> dict:
    base = {"Positive": 0.01, "Negative": 0.01, "Neutral": 0.01, "Mixed": 0.01}
    base[sentiment.capitalize()] = 0.97
    base.update({k.capitalize(): v for k, v in scores.items()})
    return {"File": file, "Line": line, "Sentiment": sentiment, "SentimentScore": base}


def size_exceeded(line: int, file: str = "documents.txt") -> dict:
    return {"File": file, "Line": line, "ErrorCode": "DOCUMENT_SIZE_EXCEEDED",
            "ErrorMessage": "Document size exceeds maximum size limit 5120 bytes"}


def archive(records: list[dict], member: str = "output") -> bytes:
    """A gzip tarball with ``member`` holding ``records`` as JSON lines."""
    payload = "".join(json.dumps(r) + "\n" for r in records).encode("utf-8")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()
