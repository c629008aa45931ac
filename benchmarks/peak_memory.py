"""Peak memory of the current process (a contender run in a child process), or of a whole process tree (Spark)."""

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


# --- a process and its children (Spark: the Python driver, the JVM it starts and the JVM's Python workers) ---------

def process_kind(name: str, cmdline: list[str]) -> str:
    """``jvm``, ``python_workers`` (pyspark's daemon and its forked workers), or ``other``."""
    joined = " ".join(cmdline)
    if name == "java" or (cmdline and cmdline[0].endswith("/java")):
        return "jvm"
    if "pyspark.daemon" in joined or "pyspark.worker" in joined or "pyspark/daemon.py" in joined:
        return "python_workers"
    return "other"


class TreeSampler:
    """Samples a process and all its descendants every ``interval`` seconds on a background thread.

    ``snapshot()`` gives the peak of the summed RSS since the last ``reset_peak()`` and the CPU seconds (user +
    system) used so far by each kind of process: ``driver`` (the root), ``jvm``, ``python_workers`` and ``other``.
    A process's CPU is its last sampled value, so one that lives shorter than ``interval`` may be missed, and one
    that ends loses at most its last ``interval`` (pyspark reuses its workers, so they live for the whole run).
    Needs psutil (requirements-dev.txt).
    """

    def __init__(self, pid: int, interval: float = 0.2):
        import threading

        import psutil

        self._psutil = psutil
        self._root = psutil.Process(pid)
        self._interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._cpu: dict[int, tuple[str, float]] = {}
        self._kinds: dict[tuple[int, str], str] = {}
        self._peak_rss = 0
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)

    def __enter__(self) -> TreeSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def _kind(self, process) -> str:
        key = (process.pid, process.name())  # by name too: spark-submit's shell script execs into the JVM
        if key not in self._kinds:
            if process.pid == self._root.pid:
                self._kinds[key] = "driver"
            else:
                self._kinds[key] = process_kind(process.name(), process.cmdline())
        return self._kinds[key]

    def sample(self) -> None:
        psutil = self._psutil
        try:
            processes = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return  # the root has ended
        rss = 0
        seen: dict[int, tuple[str, float]] = {}
        for process in processes:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    rss += process.memory_info().rss
                    seen[process.pid] = (self._kind(process), times.user + times.system)
            except psutil.Error:
                continue  # ended between the listing and the reading
        with self._lock:
            self._cpu.update(seen)
            self._peak_rss = max(self._peak_rss, rss)

    def reset_peak(self) -> None:
        with self._lock:
            self._peak_rss = 0

    def snapshot(self) -> dict:
        self.sample()
        with self._lock:
            cpu = {"driver": 0.0, "jvm": 0.0, "python_workers": 0.0, "other": 0.0}
            for kind, seconds in self._cpu.values():
                cpu[kind] += seconds
            return {"peak_rss_mib": round(self._peak_rss / 2**20), "cpu_seconds": {k: round(v, 2) for k, v in cpu.items()}}


def cpu_between(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds per kind of process between two ``TreeSampler.snapshot()`` results."""
    return {k: round(after["cpu_seconds"][k] - before["cpu_seconds"].get(k, 0.0), 2) for k in after["cpu_seconds"]}
