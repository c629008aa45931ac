"""The build-time fix the scikit-learn image applies to sagemaker-containers for Python 3.12, applied to a venv.

``sagemaker_containers/_mapping.py`` uses ``collections.Mapping``, an alias Python 3.10 removed; the image's
Dockerfile rewrites it to ``collections.abc.Mapping`` in the installed file after ``pip install``. This script does
the same rewrite in the given virtual environment only (``python patch_venv.py .venv-container``), idempotently,
and fails if the file is missing or still uses the old name afterwards.
"""

from __future__ import annotations

import sys
from pathlib import Path

OLD, NEW = "collections.Mapping", "collections.abc.Mapping"


def patch(venv: Path) -> Path:
    candidates = sorted(venv.glob("lib/python3*/site-packages/sagemaker_containers/_mapping.py"))
    if not candidates:
        raise SystemExit(f"sagemaker_containers/_mapping.py not found under {venv}")
    target = candidates[0]
    text = target.read_text(encoding="utf-8")
    patched = text.replace(NEW, "\0").replace(OLD, NEW).replace("\0", NEW)  # keep any collections.abc.Mapping
    if OLD in patched.replace(NEW, ""):
        raise SystemExit(f"{target}: {OLD} still present after patching")
    if patched != text:
        target.write_text(patched, encoding="utf-8")
        print(f"patched {target}: {OLD} -> {NEW}")
    return target


if __name__ == "__main__":
    patch(Path(sys.argv[1] if len(sys.argv) > 1 else ".venv-container"))
