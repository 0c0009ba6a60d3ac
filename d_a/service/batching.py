"""Batch aggregation: one upload for all stations of a SCHEDULE-STATION-REALTIME-DATA message.

All stations' results of one message are uploaded together, as one list. A REALTIME-DATA
message opens a batch (id from its newest sendTime, expected stations = the stations in it). Each
station's callback result is filed to the batches that were waiting for that station when the
callback started (`pending_for`), never to the newest batch id, which would leave earlier batches to expire
empty. A batch is handed over exactly once: when
every expected station has reported, or after `batch_timeout` seconds with what it has.

The aggregator only keeps the books. `report`, `cleanup_expired` and `drain` return the finished
collectors; the service calls `batch_upload_handler(batch_id, results_list)` and logs the outcome.
It is synchronous and thread-safe (one lock), so the sync service's worker threads and the async
service's event loop use it alike.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BATCH_ID_HEADER",
    "BATCH_STATIONS_HEADER",
    "BatchCollector",
    "BatchResultAggregator",
    "batch_id_for",
    "checked_seconds",
]

logger = logging.getLogger("d_a.service.batching")

BATCH_ID_HEADER = "d_a-batch-id"  # a message cut by the splitter: the batch its whole defines
BATCH_STATIONS_HEADER = "d_a-batch-stations"  # and how many stations that whole carried
RECENTLY_CLOSED_LIMIT = 1024  # closed batch ids remembered, only to tell late reports from unknown ones


def batch_id_for(topic: str, newest_time: float) -> str:
    """`<topic>_<whole epoch seconds of the message's newest sendTime>`: the id of the batch a message opens."""
    return f"{topic}_{int(newest_time)}"


def _with_station(station_id: str, result: Any) -> dict[str, Any]:
    """The upload form of one result: a copy with `station_id` first (and authoritative)."""
    if not isinstance(result, dict):
        return {"station_id": station_id, "output": result}
    item: dict[str, Any] = {"station_id": station_id}
    item.update(result)
    item["station_id"] = station_id
    return item


@dataclass(eq=False)
class BatchCollector:
    """One batch: the stations it expects and the results filed so far.

    `results` maps station -> callback result (None for a station that failed or returned None);
    it only ever holds expected stations. The aggregator owns an open collector; read it once it
    has been handed over by `report`, `cleanup_expired` or `drain`.
    """

    batch_id: str
    expected_stations: frozenset[str]
    created_at: float
    results: dict[str, Any] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)  # stations whose callback raised
    timed_out: bool = False  # handed over by timeout, with stations missing
    batch_stations: int | None = None  # scale-out: stations of the whole batch, shared out among instances

    def reported(self) -> set[str]:
        """Stations that have reported, successfully or not."""
        return set(self.results)

    def missing_stations(self) -> list[str]:
        """Expected stations that never reported, sorted (the service logs them)."""
        return sorted(self.expected_stations.difference(self.results))

    def is_complete(self) -> bool:
        """Every expected station has reported."""
        return len(self.results) >= len(self.expected_stations)

    def results_list(self) -> list[dict[str, Any]]:
        """What `batch_upload_handler` receives, in station order.

        Only valid results, each with its station: None results are left out, dicts are copied
        with the real `station_id` (overwriting one the callback set), other values become
        `{"station_id": ..., "output": value}`.
        """
        return [_with_station(s, self.results[s]) for s in sorted(self.results) if self.results[s] is not None]


def checked_seconds(name: str, value: float) -> float:
    """`value` as float seconds; ValueError naming `name` unless it is a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


class BatchResultAggregator:
    """Tracks open batches, files station results to them and hands each over exactly once.

    `batch_timeout` and `cleanup_interval` may be changed at run time; a new `batch_timeout`
    applies to batches already open (their age is measured at each `cleanup_expired`).
    Counters: `completed`, `timed_out`, `drained` (handed over incomplete at stop) and
    `late_reports` (reports no open batch was waiting for: unknown or closed batch ids, stations
    the batch does not expect, repeated reports).
    """

    def __init__(
        self,
        batch_timeout: float = 5.0,
        cleanup_interval: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.batch_timeout = batch_timeout
        self.cleanup_interval = cleanup_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[str, BatchCollector] = {}  # insertion order = opening order
        self._waiting: dict[str, set[str]] = {}  # station -> open batch ids still waiting for it
        self._recently_closed: OrderedDict[str, None] = OrderedDict()
        self._last_cleanup = clock()
        self.completed = 0
        self.timed_out = 0
        self.drained = 0
        self.late_reports = 0

    @property
    def batch_timeout(self) -> float:
        return self._batch_timeout

    @batch_timeout.setter
    def batch_timeout(self, value: float) -> None:
        self._batch_timeout = checked_seconds("batch_timeout", value)

    @property
    def cleanup_interval(self) -> float:
        return self._cleanup_interval

    @cleanup_interval.setter
    def cleanup_interval(self, value: float) -> None:
        self._cleanup_interval = checked_seconds("cleanup_interval", value)

    @property
    def open_batches(self) -> int:
        """How many batches are waiting for results."""
        return len(self._open)

    def open_batch(self, batch_id: str, stations: Iterable[str]) -> BatchCollector:
        """Open a batch expecting `stations`; for an open id, add the stations and keep its timer.

        A closed id opens afresh: a replayed message is computed and uploaded again (at-least-once).
        """
        wanted = frozenset(stations)
        with self._lock:
            collector = self._open.get(batch_id)
            if collector is None:
                self._recently_closed.pop(batch_id, None)
                collector = self._open[batch_id] = BatchCollector(batch_id, wanted, self._clock())
                added = wanted
            else:
                added = wanted - collector.expected_stations
                collector.expected_stations = collector.expected_stations | added
            for station in added:
                self._waiting.setdefault(station, set()).add(batch_id)
            count = len(collector.expected_stations)
        logger.debug("batch %s open: %d stations expected (%d added)", batch_id, count, len(added))
        return collector

    def pending_for(self, station_id: str) -> list[str]:
        """Open batch ids still waiting for `station_id`, oldest first.

        Ask before running the station's callback and report its result to exactly these ids.
        """
        with self._lock:
            waiting = self._waiting.get(station_id)
            if not waiting:
                return []
            if len(waiting) == 1:
                return list(waiting)
            return [batch_id for batch_id in self._open if batch_id in waiting]

    def report(self, batch_id: str, station_id: str, result: Any) -> BatchCollector | None:
        """File a station's result; the collector when this completed the batch (it is closed then)."""
        return self._file(batch_id, station_id, result, failed=False)

    def report_failure(self, batch_id: str, station_id: str) -> BatchCollector | None:
        """File a station whose callback raised: it counts as reported and is left out of the upload."""
        return self._file(batch_id, station_id, None, failed=True)

    def _file(self, batch_id: str, station_id: str, result: Any, *, failed: bool) -> BatchCollector | None:
        with self._lock:
            collector = self._open.get(batch_id)
            waiting = self._waiting.get(station_id)
            if collector is None or waiting is None or batch_id not in waiting:
                self.late_reports += 1
                if collector is not None:
                    reason = "open, not waiting for this station"
                else:
                    reason = "already closed" if batch_id in self._recently_closed else "unknown"
            else:
                waiting.discard(batch_id)
                if not waiting:
                    del self._waiting[station_id]
                collector.results[station_id] = result
                if failed:
                    collector.failed.add(station_id)
                if not collector.is_complete():
                    return None
                self._close(collector)
                self.completed += 1
                reason = None
        if reason is not None:
            logger.debug("batch %s: report from station %s ignored (batch %s)", batch_id, station_id, reason)
            return None
        assert collector is not None  # filed above (only a report that was not filed has a reason)
        logger.debug("batch %s complete: %d stations reported", batch_id, len(collector.results))
        return collector

    def cleanup_expired(self, now: float | None = None) -> list[BatchCollector]:
        """Close and return the batches open for `batch_timeout` seconds or more (`timed_out=True`).

        A batch opened with no stations is complete from the start and is handed over here too.
        """
        with self._lock:
            now = self._clock() if now is None else now
            self._last_cleanup = now
            deadline = now - self._batch_timeout
            expired = [c for c in self._open.values() if c.created_at <= deadline or c.is_complete()]
            for collector in expired:
                collector.timed_out = not collector.is_complete()
                self._close(collector)
                if collector.timed_out:
                    self.timed_out += 1
                else:
                    self.completed += 1
        for collector in expired:
            logger.debug(
                "batch %s closed (%s): %d of %d stations reported",
                collector.batch_id,
                "timed out" if collector.timed_out else "complete",
                len(collector.results),
                len(collector.expected_stations),
            )
        return expired

    def due_for_cleanup(self, now: float | None = None) -> bool:
        """`cleanup_interval` seconds have passed since the last `cleanup_expired`."""
        now = self._clock() if now is None else now
        return now - self._last_cleanup >= self._cleanup_interval

    def drain(self) -> list[BatchCollector]:
        """Close and return every open batch, oldest first (service stop: upload what there is)."""
        with self._lock:
            drained = list(self._open.values())
            for collector in drained:
                self._close(collector)
                if collector.is_complete():
                    self.completed += 1
                else:
                    self.drained += 1
        if drained:
            logger.debug("drained %d open batches", len(drained))
        return drained

    def _close(self, collector: BatchCollector) -> None:
        """Forget an open batch (lock held): unindex its missing stations, remember its id a while."""
        batch_id = collector.batch_id
        del self._open[batch_id]
        for station in collector.expected_stations.difference(collector.results):
            waiting = self._waiting.get(station)
            if waiting is not None:
                waiting.discard(batch_id)
                if not waiting:
                    del self._waiting[station]
        self._recently_closed[batch_id] = None
        if len(self._recently_closed) > RECENTLY_CLOSED_LIMIT:
            self._recently_closed.popitem(last=False)
