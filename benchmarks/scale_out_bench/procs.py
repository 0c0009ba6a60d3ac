"""CPU time and memory of the run's processes (workers, broker, feeder), read from /proc, and the
machine's load: the same clock for every process, read by the parent at the moments it chooses."""

from __future__ import annotations

import os
from collections.abc import Iterable

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of process `pid` (all its threads); 0 when it is gone or None."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime: fields 14 and 15 of stat(5)


def total_cpu(pids: Iterable[int | None]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def rss_bytes(pid: int | None) -> int:
    if pid is None:
        return 0
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * PAGE
    except OSError:
        return 0


def load() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]
