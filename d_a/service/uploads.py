"""ResultUploader: where a run's result goes, per station or per REALTIME-DATA batch.

A result goes to the output topic keyed by its station, or, while the station owes a result to an
open batch (a message of a `defines_batch` topic opened it for the stations it touched), into that
batch; a batch complete or timed out is uploaded as one message, or handed to the
`batch_upload_handler`. The message that opened a batch stays uncommitted until its upload
succeeded: a batch whose upload fails is kept and tried again with backoff (1 s doubling to 30 s).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..dispatcher import IngestReport
from ..errors import handle_error
from ..kafka import KafkaMessage
from ..kafka.transport import AsyncProducer
from .batching import BATCH_ID_HEADER, BATCH_STATIONS_HEADER, BatchCollector, BatchResultAggregator, batch_id_for
from .delivery import Position
from .outputs import batch_output, single_output
from .position_gate import PositionGate
from .stats import EngineStats

__all__ = ["ResultUploader"]

logger = logging.getLogger("d_a.service")

BATCH_CLEANUP_INTERVAL = 1.0  # how often timed-out batches are looked for
BATCH_RETRY_FIRST = 1.0  # a batch whose upload failed is tried again after this, doubling
BATCH_RETRY_MAX = 30.0

Call = Callable[..., Awaitable[Any]]


@dataclass(eq=False)
class _BatchRetry:
    """A closed batch whose upload failed: when to try again, and the backoff."""

    collector: BatchCollector
    due: float
    delay: float
    attempts: int = 1


class ResultUploader:
    """Uploads results and batches to `output_topic` (or hands batches to `batch_upload_handler`)."""

    def __init__(
        self,
        producer: AsyncProducer | None,
        output_topic: str | None,
        module_name: str | None,
        *,
        batch_timeout: float,
        upload_input: bool,
        batch_upload_handler: Callable[..., Any] | None,
        gate: PositionGate,
        stats: EngineStats,
        call: Call,
    ) -> None:
        self.producer = producer
        self.output_topic = output_topic
        self.module_name = module_name
        self.upload_input = upload_input
        self.batch_upload_handler = batch_upload_handler
        self.aggregator = BatchResultAggregator(batch_timeout, BATCH_CLEANUP_INTERVAL)
        self.batching = batch_upload_handler is not None or (module_name is not None and producer is not None)
        self._gate = gate
        self._stats = stats
        self._call = call
        self._sources: dict[BatchCollector, list[Position]] = {}  # per batch: the messages that opened it
        self._retries: list[_BatchRetry] = []  # closed batches whose upload failed
        self._none_noted = False  # a None result was logged (once) as not uploaded

    @property
    def waiting_retry(self) -> int:
        """Closed batches whose upload failed and is to be tried again."""
        return len(self._retries)

    def open_batch(self, topic: str, report: IngestReport, message: KafkaMessage) -> None:
        """Open the batch `message` defines; the message's offset waits for the batch's upload."""
        if self.batching and report.newest_ts is not None and report.touched:
            batch_id = _header(message, BATCH_ID_HEADER) or batch_id_for(topic, report.newest_ts)
            collector = self.aggregator.open_batch(batch_id, report.touched)
            whole = _header(message, BATCH_STATIONS_HEADER)
            if whole is not None and whole.isdigit():
                collector.batch_stations = int(whole)
            position = (message.topic, message.partition, message.offset)
            self._gate.hold(position)
            self._sources.setdefault(collector, []).append(position)

    def batches_of(self, station: str) -> list[str]:
        """The open batches that wait for a result of `station`."""
        return self.aggregator.pending_for(station) if self.batching else []

    async def deliver(self, station: str, module_input: Any, result: Any, batches: list[str], *, failed: bool) -> bool:
        """Upload or hand over a run's result; False when a station's upload failed (the data must
        be seen again). A batch whose upload fails is kept and tried again."""
        if batches:
            for batch_id in batches:
                if failed:
                    collector = self.aggregator.report_failure(batch_id, station)
                else:
                    collector = self.aggregator.report(batch_id, station, result)
                if collector is not None:
                    await self.hand_over(collector)
            return True
        if failed or not self._uploads_singles():
            return True
        if result is None:
            if not self._none_noted:
                self._none_noted = True
                logger.info(
                    "callback returned None for station %s: nothing uploaded to %s (None is no output; the "
                    "original d_a uploaded the module input instead, see docs/MIGRATION.md); said once",
                    station,
                    self.output_topic,
                )
            return True
        message = single_output(station, self.module_name or "", result, module_input if self.upload_input else None)
        return await self._send(message, key=station)

    async def hand_over(self, collector: BatchCollector) -> None:
        """Upload a closed batch (or hand it to `batch_upload_handler`); one that fails is kept and
        tried again with backoff, and the messages that opened it stay uncommitted meanwhile."""
        if collector.timed_out:
            self._stats.counters["batches_timed_out"] += 1
            logger.warning(
                "batch %s timed out: uploading %d results, missing stations: %s",
                collector.batch_id,
                len(collector.results_list()),
                ", ".join(collector.missing_stations()[:20]) or "none",
            )
        else:
            self._stats.counters["batches_completed"] += 1
        if await self._upload_batch(collector):
            self._uploaded(collector)
            return
        self._retries.append(_BatchRetry(collector, time.monotonic() + BATCH_RETRY_FIRST, BATCH_RETRY_FIRST))
        logger.warning(
            "batch %s: upload failed; its %d results are kept and tried again in %.0f s (the messages that "
            "opened it stay uncommitted)",
            collector.batch_id,
            len(collector.results_list()),
            BATCH_RETRY_FIRST,
        )

    async def housekeeping(self) -> None:
        """Hand over the batches that timed out, and retry the failed uploads whose time has come."""
        if self.aggregator.due_for_cleanup():
            for collector in self.aggregator.cleanup_expired():
                await self.hand_over(collector)
        if self._retries:
            await self._retry()

    async def drain(self) -> None:
        """At stop: hand over every open batch and try every failed one once more; what is still
        not uploaded leaves its messages uncommitted (logged)."""
        for collector in self.aggregator.drain():
            await self.hand_over(collector)
        await self._retry(force=True)
        if self._retries:
            logger.warning(
                "%d batches not uploaded at stop (%s); the messages that opened them stay uncommitted and are "
                "read again at the next start",
                len(self._retries),
                ", ".join(r.collector.batch_id for r in self._retries[:10]),
            )

    async def _retry(self, *, force: bool = False) -> None:
        """Try again the batches whose upload failed and whose time has come (all with `force`)."""
        now = time.monotonic()
        for retry in [r for r in self._retries if force or r.due <= now]:
            if await self._upload_batch(retry.collector):
                self._retries.remove(retry)
                self._uploaded(retry.collector)
                logger.info("batch %s uploaded after %d failed attempts", retry.collector.batch_id, retry.attempts)
            else:
                retry.attempts += 1
                retry.delay = min(BATCH_RETRY_MAX, retry.delay * 2)
                retry.due = time.monotonic() + retry.delay

    def _uploaded(self, collector: BatchCollector) -> None:
        for position in self._sources.pop(collector, ()):
            self._gate.let_go(position)

    def _uploads_singles(self) -> bool:
        return self.producer is not None and self.output_topic is not None

    async def _upload_batch(self, collector: BatchCollector) -> bool:
        """One attempt at handing a batch over; False when it failed (counted and logged)."""
        results = collector.results_list()
        if self.batch_upload_handler is not None:
            try:
                await self._call(self.batch_upload_handler, collector.batch_id, results)
            except Exception as exc:  # noqa: BLE001 - kept and tried again
                self._stats.counters["upload_errors"] += 1
                handle_error(exc, context=f"batch_upload_handler batch={collector.batch_id}")
                return False
            return True
        if not self._uploads_singles():
            return True
        return await self._send(
            batch_output(collector.batch_id, self.module_name or "", results, collector.batch_stations)
        )

    async def _send(self, message: Mapping[str, Any], key: str | None = None) -> bool:
        assert self.producer is not None and self.output_topic is not None
        try:
            await self.producer.send(self.output_topic, message, key=key)
        except Exception as exc:  # noqa: BLE001 - counted; the data is seen again and re-uploaded
            self._stats.counters["upload_errors"] += 1
            handle_error(exc, context=f"upload to {self.output_topic}")
            return False
        self._stats.counters["uploads"] += 1
        return True


def _header(message: KafkaMessage, name: str) -> str | None:
    """A header's value as text (the last one of that name), None when the message has none."""
    found = [value for key, value in message.headers if key == name]
    return found[-1].decode("utf-8", "replace") if found else None
