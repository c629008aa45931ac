"""Peak memory of the CURRENT process, for benchmarks that measure a contender in a child process."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_kib() -> int:
    """This process's own peak RSS in KiB.

    ``ru_maxrss`` survives exec on Linux, so a child forked (or spawned: fork + exec) from a big parent would report
    the parent's figure; ``VmHWM`` belongs to the new address space only. Falls back to ``ru_maxrss`` where
    ``/proc`` is missing (macOS reports it in bytes there, so the figure is only indicative).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
