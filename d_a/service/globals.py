"""GlobalTopics: global topics (the calendar) are loaded before any station's callback needs them.

Global topics (`scope: global`) are read the way Kafka Streams reads a GlobalKTable: by a reader
of their own, beside the service's consumer (which does not subscribe them), with no consumer
group: every partition from its beginning, nothing committed. So a restarted service reads the
calendar again (a yearly calendar is not re-sent, and a group's committed offsets would skip it),
and global messages are never held for offsets. The reader keeps following the topics; their
messages go through the dispatcher like any other and reach every station.

Two waits keep callbacks from running without global data that exists:

- Bootstrap: at start, and when a config reload changes the global topics, the end offsets of
  their partitions are taken; no station runs until the reader has reached them. Data of other
  topics is applied to windows meanwhile; runs just wait.
- First run: a station's first run waits until the reader has reached end offsets queried after
  the station's data was fetched. Per-topic consumers give no order between topics, so
  REALTIME-DATA may be delivered before a calendar published earlier. The stations that wait at
  one moment share one query (a query in flight when a station asks may predate its data, so it
  joins the next one). Later runs do not wait.

Both waits are bounded by `global_bootstrap_timeout`; when it expires a WARNING names the topics
and how far the reader got, and the stations run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from ..config import Config
from ..dispatcher import DataDispatcher
from ..errors import handle_error
from ..kafka import KafkaMessage, TopicPartition
from ..kafka.transport import AsyncGlobalReader
from ..topics import BadInput
from .scheduler import StationScheduler

__all__ = ["GlobalTopics", "split_global_topics"]

logger = logging.getLogger("d_a.service")

FETCH_TIMEOUT_MS = 200
ERROR_PAUSE_SECONDS = 1.0

ReaderFactory = Callable[[list[str]], AsyncGlobalReader]
Offsets = Mapping[TopicPartition, int]


def split_global_topics(config: Config, topics: Sequence[str]) -> tuple[list[str], list[str]]:
    """(topics for the service's consumer, global topics for the global reader). A service that
    reads nothing but global topics has no station to wait for: its consumer reads them all."""
    global_topics = [t for t in topics if t in config.topics and config.topics[t].scope == "global"]
    consumed = [t for t in topics if t not in global_topics]
    return (consumed, global_topics) if consumed else (list(topics), [])


class GlobalTopics:
    """The global reader of a service: follows the global topics, and tells workers when to wait."""

    def __init__(
        self,
        make_reader: ReaderFactory | None,
        dispatcher: DataDispatcher,
        scheduler: StationScheduler,
        timeout: float,
    ) -> None:
        self.make_reader = make_reader
        self.dispatcher = dispatcher
        self.scheduler = scheduler
        self.timeout = timeout
        self.topics: list[str] = []
        self.reader: AsyncGlobalReader | None = None
        self.messages: dict[str, int] = {}  # per topic, read by the reader (bad ones too)
        self.bad_messages = 0
        self.end_offset_queries = 0
        self._applied: dict[TopicPartition, int] = {}  # reader positions whose messages are in the windows
        self._targets: dict[TopicPartition, int] | None = None  # the bootstrap's end offsets (None: unknown)
        self._ends: dict[TopicPartition, int] = {}  # the latest end offsets queried
        self._loaded = asyncio.Event()
        self._loaded.set()
        self._fetched = asyncio.Event()  # set (and replaced) after each fetch was applied
        self._next_round: asyncio.Future[None] | None = None
        self._querying = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._unparking = False  # a task queues the parked stations again after the next round

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self, topics: Sequence[str]) -> None:
        """Connect a reader for `topics` (none: nothing to do) and begin the bootstrap."""
        self.topics = list(topics)
        if not self.topics:
            return
        if self.make_reader is None:
            raise ValueError("global topics need a reader factory")
        self._loaded.clear()  # from now on no station runs until the bootstrap is over
        reader = self.make_reader(self.topics)
        try:
            await reader.start()
        except BaseException:
            self._loaded.set()
            raise
        self.reader = reader
        self.messages = dict.fromkeys(self.topics, 0)
        self._applied = reader.positions()
        self._targets, self._ends = None, {}
        self._spawn(self._follow(reader))
        self._spawn(self._bootstrap(reader))
        logger.info("reading global topics %s without a consumer group, from their beginning", ", ".join(self.topics))

    async def stop(self) -> None:
        """Stop following and close the reader; nobody waits any longer."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        reader, self.reader = self.reader, None
        if reader is not None:
            await reader.stop()
        if self._next_round is not None and not self._next_round.done():
            self._next_round.set_result(None)
        self._next_round, self._querying, self._unparking = None, False, False
        self._loaded.set()
        self.scheduler.unpark(list(self.scheduler.parked))  # nothing to wait for any longer

    async def resubscribe(self, topics: Sequence[str]) -> None:
        """After a config reload: a new reader for a changed set of global topics, bootstrapped anew
        (global topics are small; those kept are read again from their beginning)."""
        if list(topics) == self.topics:
            return
        await self.stop()
        await self.start(topics)

    # -- the workers' side -------------------------------------------------------------------------

    def must_wait(self, first_run: bool) -> bool:
        """Whether a station's run has to `wait` first (cheap: asked before every run)."""
        return bool(self.topics) and (first_run or not self._loaded.is_set())

    async def wait(self, first_run: bool) -> None:
        """Until the bootstrap is over and, for a first run, the reader has caught up with a fresh query."""
        await self._loaded.wait()
        if first_run and self.reader is not None:
            if self._next_round is None:
                self._next_round = asyncio.get_running_loop().create_future()
                if not self._querying:
                    self._querying = True
                    self._spawn(self._round())
            await asyncio.shield(self._next_round)

    def park(self, station: str) -> None:
        """Set aside a station whose run must `wait`: the workers go on with other stations, and
        the parked ones share the reader's next round, then are queued again."""
        self.scheduler.park(station)
        if not self._unparking:
            self._unparking = True
            self._spawn(self._unpark_after_wait())

    async def _unpark_after_wait(self) -> None:
        try:
            while self.scheduler.parked:
                stations = list(self.scheduler.parked)
                try:
                    await self.wait(first_run=True)
                except Exception as exc:  # noqa: BLE001 - the stations run without it rather than never
                    handle_error(exc, context="waiting for global topics")
                self.scheduler.unpark(stations)
        finally:
            self._unparking = False

    # -- reading -----------------------------------------------------------------------------------

    async def _follow(self, reader: AsyncGlobalReader) -> None:
        while True:
            try:
                messages = await reader.getmany(timeout_ms=FETCH_TIMEOUT_MS)
                if messages:
                    self._apply(messages)
                self._applied = reader.positions()
            except Exception as exc:  # noqa: BLE001 - never end the loop; the broker may come back
                handle_error(exc, context="global reader")
                await asyncio.sleep(ERROR_PAUSE_SECONDS)
            fetched, self._fetched = self._fetched, asyncio.Event()
            fetched.set()

    def _apply(self, messages: list[KafkaMessage]) -> None:
        """Into the windows (global data reaches every station), and trigger the stations it changed."""
        arrival = time.time()
        by_topic: dict[str, list[KafkaMessage]] = {}
        for message in messages:
            self.messages[message.topic] = self.messages.get(message.topic, 0) + 1
            if message.error is not None:
                self.bad_messages += 1
                problem = BadInput("not_json", message.error)
                self.dispatcher.bad_input.record(
                    problem, message.topic, partition=message.partition, offset=message.offset
                )
            else:
                by_topic.setdefault(message.topic, []).append(message)
        for topic, batch in by_topic.items():
            report = self.dispatcher.ingest_batch(
                topic, [m.value for m in batch], arrival=arrival, positions=[(m.partition, m.offset) for m in batch]
            )
            for station in report.triggered:
                self.scheduler.trigger(station)

    # -- waiting for the reader --------------------------------------------------------------------

    async def _bootstrap(self, reader: AsyncGlobalReader) -> None:
        began = time.monotonic()
        try:
            try:
                targets = await self._end_offsets(reader, self.timeout)
            except Exception as exc:  # noqa: BLE001 - stations must not wait for ever
                logger.warning(
                    "global topics %s: end offsets not known after up to %.0f s (%s); stations run without waiting",
                    ", ".join(self.topics),
                    self.timeout,
                    exc or type(exc).__name__,
                )
                return
            self._targets = targets
            if await self._reach(targets, began + self.timeout):
                logger.info(
                    "global topics loaded: %s (%d messages in %.2f s)",
                    ", ".join(self.topics),
                    sum(self.messages.values()),
                    time.monotonic() - began,
                )
            else:
                logger.warning(
                    "global topics not loaded within global_bootstrap_timeout (%.0f s): %s; "
                    "stations run without the rest",
                    self.timeout,
                    self._progress(targets),
                )
        finally:
            self._loaded.set()

    async def _round(self) -> None:
        """One end-offset query for every station waiting when it begins, then the wait to reach it."""
        done, self._next_round = self._next_round, None
        deadline = time.monotonic() + self.timeout
        try:
            reader = self.reader
            try:
                targets = await self._end_offsets(reader, self.timeout) if reader is not None else {}
            finally:
                self._querying = False
                if self._next_round is not None:  # stations that came during the query: the next one
                    self._querying = True
                    self._spawn(self._round())
            if not await self._reach(targets, deadline):
                logger.warning(
                    "global topics not caught up within global_bootstrap_timeout (%.0f s) for new stations: %s; "
                    "they run without the rest",
                    self.timeout,
                    self._progress(targets),
                )
        except Exception as exc:  # noqa: BLE001 - stations must not wait for ever
            logger.warning(
                "global topics %s: end offsets not known (%s); new stations run without waiting",
                ", ".join(self.topics),
                exc or type(exc).__name__,
            )
        finally:
            if done is not None and not done.done():
                done.set_result(None)

    async def _end_offsets(self, reader: AsyncGlobalReader, timeout: float) -> dict[TopicPartition, int]:
        self.end_offset_queries += 1
        ends = await asyncio.wait_for(reader.end_offsets(), timeout)
        self._ends = {**self._ends, **ends}  # replaced, not changed: status() may read it from another thread
        return ends

    async def _reach(self, targets: Offsets, deadline: float) -> bool:
        """Wait until the applied positions reach `targets`; False when `deadline` passed first."""
        while self._behind(targets):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._fetched.wait(), remaining)
            except asyncio.TimeoutError:
                return False
        return True

    def _behind(self, targets: Offsets) -> bool:
        return any(self._applied.get(tp, 0) < end for tp, end in targets.items())

    def _progress(self, targets: Offsets) -> str:
        """Per topic: messages read, and applied position / end offset over its partitions."""
        parts = []
        for topic in self.topics:
            ends = {tp: end for tp, end in targets.items() if tp.topic == topic}
            position = sum(min(self._applied.get(tp, 0), end) for tp, end in ends.items())
            parts.append(f"{topic} at {position}/{sum(ends.values())} ({self.messages.get(topic, 0)} messages read)")
        return "; ".join(parts)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name="d_a-global-topics")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- status ------------------------------------------------------------------------------------

    def status(self) -> dict[str, dict[str, Any]]:
        """Per global topic: loaded (the bootstrap reached it), messages read, position / end offset
        (summed over its partitions: the next offset to read, the latest end offset queried)."""
        report = {}
        for topic in self.topics:
            ends = {tp: end for tp, end in self._ends.items() if tp.topic == topic}
            targets = None if self._targets is None else {tp: e for tp, e in self._targets.items() if tp.topic == topic}
            report[topic] = {
                "loaded": targets is not None and not self._behind(targets),
                "messages": self.messages.get(topic, 0),
                "position": sum(p for tp, p in self._applied.items() if tp.topic == topic),
                "end_offset": sum(ends.values()) if ends else None,
            }
        return report
