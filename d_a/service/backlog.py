"""BacklogGauge: whether the consumer is reading a backlog, or keeping up with a live feed.

Some lag is always there under a live feed: the last fetch's response said more had arrived, a
burst of messages is handed over a fetch at a time, and a consumer of many partitions has records
of some of them fetched but not yet handed over. That is not a backlog. The consumer is behind
while a partition has not reached the end offset it had when this consumer first read it (what
was there before: after a restart, or on a partition assigned here), or while a partition's
unread messages have waited `patience` seconds: its position has not reached, in that time, the
end offset seen when they were noticed. Only the local clock is used (never the producers'
timestamps), so clock skew between hosts cannot fake a backlog or hide one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

__all__ = ["BacklogGauge", "LagInfo", "PATIENCE_SECONDS"]

PATIENCE_SECONDS = 1.0  # unread this long: a backlog, not a live feed's last few messages

LagInfo = Mapping[str, Mapping[int, Mapping[str, int | None]]]  # consumer.get_lag_info()
Partition = tuple[str, int]


class BacklogGauge:
    """Told the partitions' lag after each fetch; says whether a backlog is being read."""

    def __init__(self, patience: float = PATIENCE_SECONDS) -> None:
        self.patience = patience
        self._read: set[Partition] = set()  # partitions this consumer has a position on
        self._waiting: dict[Partition, tuple[int, float]] = {}  # partition -> (end offset, noticed at)

    def behind(self, lag_info: LagInfo, now: float | None = None) -> bool:
        """Whether a partition still holds what was there when first read, or has held unread
        data for `patience`."""
        now = time.monotonic() if now is None else now
        read: set[Partition] = set()
        waiting: dict[Partition, tuple[int, float]] = {}
        behind = False
        for topic, partitions in lag_info.items():
            for partition, info in partitions.items():
                end, position = info.get("end_offset"), info.get("position")
                if end is None or position is None:
                    continue
                key = (topic, partition)
                read.add(key)
                if position >= end:
                    continue
                noticed = self._waiting.get(key)
                if key not in self._read:
                    noticed = (end, -math.inf)  # there before this consumer read the partition
                elif noticed is None or position >= noticed[0]:
                    noticed = (end, now)  # what was noticed before is read: time what is there now
                behind = behind or now - noticed[1] >= self.patience
                waiting[key] = noticed
        self._read, self._waiting = read, waiting
        return behind
