"""Where a run keeps what it builds once per machine and reuses: the local JVM's class-data archive
(``session``) and py3langid's unpacked model (``language``).

A cache is only ever a faster way to the same result: whatever is missing, damaged or cannot be written only costs
time (the model is unpacked in memory, the JVM loads the classes from the jars), and nothing in it is needed for a
run to be correct. Its files are written to a temporary name
beside their place and moved there in one step, so a reader never sees half of one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def default_cache_folder() -> Path:
    """The virtualenv's own cache folder when running in one (removed with it), else the user's cache folder."""
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix) / "var" / "cache" / "ds-on-aws"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ds-on-aws"
