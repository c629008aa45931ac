"""Where the runtime scripts live, and how the runner imports them as the cloud does (top-level modules).

Glue imports ``clean_reviews`` (the job) and ``review_text`` (``--extra-py-files``) as top-level modules; the
runner makes the same two folders importable, nothing more.
"""

from __future__ import annotations

import sys

from ds_on_aws.config import PROJECT_ROOT

GLUE_SCRIPTS_DIR = PROJECT_ROOT / "glue_scripts"
COMMON_DIR = PROJECT_ROOT / "common"
TRAINING_DIR = PROJECT_ROOT / "training"


def ensure_runtime_paths() -> None:
    """Put ``common/`` and ``glue_scripts/`` on ``sys.path`` (idempotent)."""
    for folder in (COMMON_DIR, GLUE_SCRIPTS_DIR):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
