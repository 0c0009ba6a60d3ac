"""The garbage collector while a service runs: a higher young threshold, and passes when idle.

Every station run leaves thousands of young container objects alive for a while (inputs, stamps,
held messages). Python collects them when its young count passes a threshold, at whatever moment
that is: in a busy service, in the middle of serving a burst of stations, where a pass over tens of
thousands of young objects stalls every station still waiting (1,000 stations fed in real time in
memory: p99 latency 132-146 ms, 79-95 ms with idle passes). An IdleCollector runs those passes when
the engine has nothing queued or running instead, choosing the generation as Python's own rule would.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable

__all__ = ["IdleCollector", "young_gc_threshold"]

EARLY_SHARE = 2  # an idle pass once the young count reached 1/2 of its threshold (more often promotes more)
FULL_SHARE = 4  # a full pass once the heap grew by a quarter since the last one


def young_gc_threshold(threshold: int | None) -> int | None:
    """Set the garbage collector's generation-0 threshold (None: leave it); returns the previous one.

    Each poll batch allocates thousands of short-lived records; at Python's default (700) the
    collector runs so often that its passes over every station's long-lived data cost about as much
    as decoding the messages (bench_service.py).
    """
    if threshold is None:
        return None
    previous, *older = gc.get_threshold()
    gc.set_threshold(threshold, *older)
    return previous


class IdleCollector:
    """Runs the collector's pass that is due, when its owner says it is idle.

    A pass is due once the young count reached half its threshold, so Python's automatic passes
    (at the threshold) seldom come; passes much more frequent than Python's would move more of the
    objects that live a second or two on into older generations, and so bring more full passes.
    The generation is chosen as Python's own rule would: the youngest, an older one once as many
    younger passes ran as its threshold says, and the oldest (a pass over the whole heap) only once
    the heap grew by a quarter since its last pass. Python counts the objects moved into the oldest
    generation; the heap's allocated blocks (`sys.getallocatedblocks`) stand in for that count,
    because counting objects takes `gc.get_objects`, which hands out objects other threads are
    still building (a tuple being built from a generator there then fails with SystemError).
    """

    def __init__(
        self,
        *,
        counts: Callable[[], tuple[int, int, int]] = gc.get_count,
        thresholds: Callable[[], tuple[int, ...]] = gc.get_threshold,
        heap: Callable[[], int] = sys.getallocatedblocks,
        collect: Callable[[int], int] = gc.collect,
    ) -> None:
        self.counts = counts
        self.thresholds = thresholds
        self.heap = heap
        self.collect = collect
        self.passes = [0, 0, 0]  # passes made here, per generation
        self._after_full = heap()  # the heap after the last full pass (or at the start)

    def due(self) -> int | None:
        """The generation a pass would collect now (0, 1 or 2), None when none is due yet."""
        counts, thresholds = self.counts(), self.thresholds()
        if counts[0] < thresholds[0] // EARLY_SHARE:
            return None
        if counts[2] >= thresholds[2] > 0 and self.heap() - self._after_full > self._after_full // FULL_SHARE:
            return 2
        if counts[1] >= thresholds[1] > 0:
            return 1
        return 0

    def idle(self) -> int | None:
        """Collect the generation due, unless none is or the collector is disabled; the generation
        collected, or None."""
        generation = self.due() if gc.isenabled() else None
        if generation is None:
            return None
        self.collect(generation)
        if generation == 2:
            self._after_full = self.heap()
        self.passes[generation] += 1
        return generation
