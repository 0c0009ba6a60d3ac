"""OffsetManager: commits an offset only after its message was fully handled (at-least-once).

Per partition, the committable offset (the next offset to read, Kafka's convention) is the
lowest offset still in flight, or the highest done offset + 1 when nothing is in flight. A slow
message therefore holds back the later offsets of its partition, never those of other
partitions, so a crash replays every message whose handling had not finished.

Memory is bounded by what is in flight: per partition a set and a heap of in-flight offsets
(done entries leave the heap when they reach its top, and the heap is rebuilt when stale entries
pile up behind a stuck message) plus the highest done offset.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from heapq import heapify, heappop, heappush
from typing import Any, Protocol

from pydantic import ValidationError

from ..config.problems import problems_from_validation
from ..config.schema import OffsetCommitConfig
from ..errors import ConfigError, handle_error
from .message import KafkaMessage, TopicPartition

__all__ = ["OffsetCommitter", "OffsetManager"]

logger = logging.getLogger("d_a.kafka.offsets")

_STALE_SLACK = 1024
"""Stale heap entries tolerated beyond twice the in-flight count before the heap is rebuilt."""


class OffsetCommitter(Protocol):
    """Anything that commits offsets: the async consumers (a sync `commit_offsets` works too)."""

    def commit_offsets(self, offsets: Mapping[TopicPartition, int]) -> Awaitable[None] | None: ...


class _PartitionOffsets:
    """In-flight offsets of one partition, its highest done offset and its last committed offset."""

    __slots__ = ("committed", "heap", "highest", "in_flight", "max_done")

    def __init__(self) -> None:
        self.in_flight: set[int] = set()
        self.heap: list[int] = []
        self.max_done = -1
        self.highest = -1  # the highest offset begun
        self.committed: int | None = None

    def track(self, offset: int) -> None:
        if offset > self.highest:
            self.highest = offset
        if (self.committed is not None and offset < self.committed) or offset in self.in_flight:
            return
        self.in_flight.add(offset)
        heappush(self.heap, offset)
        if len(self.heap) > 2 * len(self.in_flight) + _STALE_SLACK:
            self.heap = list(self.in_flight)
            heapify(self.heap)

    def done(self, offset: int) -> bool:
        """False for an offset below the committed one (already committed: nothing to do)."""
        if self.committed is not None and offset < self.committed:
            return False
        self.in_flight.discard(offset)
        if offset > self.max_done:
            self.max_done = offset
        heap = self.heap
        while heap and heap[0] not in self.in_flight:
            heappop(heap)
        return True

    def committable(self) -> int | None:
        """The next offset to commit, or None when nothing new can be committed.

        With messages in flight that is the lowest of them, even if nothing is done yet: it pins
        the group's position, so a restart with `auto_offset_reset=latest` cannot skip them.
        """
        heap = self.heap
        while heap and heap[0] not in self.in_flight:
            heappop(heap)
        if heap:
            offset = heap[0]
        elif self.max_done >= 0:
            offset = self.max_done + 1
        else:
            return None
        if self.committed is not None and offset <= self.committed:
            return None
        return offset


class OffsetManager:
    """Tracks in-flight messages of one consumer and commits what is safe to commit.

    `begin` when a message is fetched, `mark_done` when it was fully handled, then `maybe_commit`
    (every `commit_batch_size` done messages or `commit_interval_seconds`) and `close` on stop.
    The original d_a's `track_message(msg)` marks a message handled at once (its offset + 1 becomes
    committable, unless an earlier message of its partition is still in flight). The bookkeeping
    is synchronous and cheap (well under a microsecond per call) and, like a consumer, meant for
    one thread: the consumer's event loop. `commit` is async, retried, and keeps the offsets
    pending when it finally fails.
    """

    def __init__(
        self,
        consumer: OffsetCommitter,
        config: OffsetCommitConfig | Mapping[str, Any] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._consumer = consumer
        self._config = _commit_config(config)
        self._clock = clock
        self._sleep = sleep
        self._partitions: dict[TopicPartition, _PartitionOffsets] = {}
        self._commit_lock = asyncio.Lock()
        self._done_since_commit = 0
        self._last_commit = clock()
        self._committed: dict[TopicPartition, int] = {}
        self._background: asyncio.Task[None] | None = None  # a commit `commit_soon` started
        self.commits = 0
        self.failed_commits = 0

    @property
    def config(self) -> OffsetCommitConfig:
        """When it commits (`offset_commit` of the config)."""
        return self._config

    def begin(self, msg: KafkaMessage | tuple[TopicPartition, int]) -> None:
        """`msg` was fetched and is now in flight: its partition's commits stop below it until
        `mark_done` (an offset below the committed one is ignored)."""
        topic, partition, offset = _position(msg)
        self._state(topic, partition).track(offset)

    def track_message(self, msg: KafkaMessage | tuple[TopicPartition, int]) -> None:
        """The original d_a's call: `msg` was handled, its offset + 1 may be committed (as `mark_done`)."""
        self.mark_done(msg)

    def mark_done(
        self, msg: KafkaMessage | tuple[TopicPartition, int] | TopicPartition, offset: int | None = None
    ) -> None:
        """`msg` (or `tp, offset`) was fully handled; an untracked one counts as tracked and done."""
        topic, partition, offset = _position(msg, offset)
        if self._state(topic, partition).done(offset):
            self._done_since_commit += 1

    def should_commit(self) -> bool:
        """True when `commit_batch_size` messages were done since the last commit, or
        `commit_interval_seconds` passed, and something can be committed."""
        due = (
            self._done_since_commit >= self._config.commit_batch_size
            or self._clock() - self._last_commit >= self._config.commit_interval_seconds
        )
        return due and bool(self.committable())

    def committable(self) -> dict[TopicPartition, int]:
        """Per partition with something new to commit, the next offset to commit."""
        offsets = {}
        for tp, state in self._partitions.items():
            offset = state.committable()
            if offset is not None:
                offsets[tp] = offset
        return offsets

    def note_committed(self, tp: TopicPartition, offset: int) -> None:
        """The group's committed offset of `tp`, as found when it was assigned: messages below it
        are done already (`begin` and `mark_done` ignore them)."""
        state = self._state(tp.topic, tp.partition)
        if state.committed is None or offset > state.committed:
            state.committed = offset

    def forget(self, partitions: list[TopicPartition]) -> None:
        """`partitions` moved to another member of the group: nothing of theirs is committed here."""
        for tp in partitions:
            self._partitions.pop(tp, None)
            self._committed.pop(tp, None)

    def positions(self) -> dict[TopicPartition, int]:
        """Per partition begun in, the offset after the highest message begun (what was fetched)."""
        return {tp: state.highest + 1 for tp, state in self._partitions.items() if state.highest >= 0}

    @property
    def pending_count(self) -> int:
        """How many tracked messages are still in flight."""
        return sum(len(state.in_flight) for state in self._partitions.values())

    @property
    def committed_offsets(self) -> dict[TopicPartition, int]:
        """The offsets of the last successful commits, per partition."""
        return dict(self._committed)

    async def commit(self) -> bool:
        """Commit what is committable; False (offsets kept pending) when every attempt failed."""
        return await self._commit(final=False)

    async def maybe_commit(self) -> bool:
        """Commit if `should_commit()`; True when offsets were committed by this call."""
        return self.should_commit() and await self._commit(final=False)

    async def close(self) -> bool:
        """The final commit when the consumer stops (a commit `commit_soon` started is cancelled:
        this one covers its offsets)."""
        await self.settle(cancel=True)
        return await self._commit(final=True)

    def commit_soon(self) -> None:
        """Commit in a task of its own when a commit is due: a commit can wait for seconds (a group
        rejoining, a slow coordinator), and the caller, fetching, must not wait with it."""
        if (self._background is None or self._background.done()) and self.should_commit():
            self._background = asyncio.create_task(self._commit_in_background(), name="d_a-commit")

    async def settle(self, *, cancel: bool = False) -> None:
        """Wait for the commit `commit_soon` started, or cancel it (its offsets stay pending)."""
        background, self._background = self._background, None
        if background is not None:
            if cancel:
                background.cancel()
            await asyncio.gather(background, return_exceptions=True)

    async def _commit_in_background(self) -> None:
        try:
            await self.maybe_commit()
        except Exception as exc:  # noqa: BLE001 - a failed commit keeps its offsets pending
            handle_error(exc, context="offset commit")

    async def _commit(self, *, final: bool) -> bool:
        async with self._commit_lock:
            offsets = self.committable()
            done_before = self._done_since_commit
            if not offsets:
                if final:
                    logger.info("final offset commit: nothing to commit")
                return True
            attempts = self._config.max_commit_retries + 1
            error: Exception | None = None
            for attempt in range(1, attempts + 1):
                try:
                    result = self._consumer.commit_offsets(offsets)
                    if inspect.isawaitable(result):
                        await result
                except Exception as exc:  # noqa: BLE001 - a failed commit must never stop the consumer
                    error = exc
                    logger.debug("offset commit attempt %d/%d failed: %r", attempt, attempts, exc)
                    if attempt < attempts:
                        await self._sleep(self._config.commit_retry_delay)
                    continue
                self._committed_ok(offsets, done_before)
                if final:
                    logger.info("final offset commit: %d partition(s)", len(offsets))
                else:
                    logger.debug("committed offsets of %d partition(s)", len(offsets))
                return True
            self.failed_commits += 1
            self._restart_period(done_before)
            logger.warning(
                "offset commit failed after %d attempts, %d partition(s) kept pending: %r",
                attempts,
                len(offsets),
                error,
            )
            return False

    def _committed_ok(self, offsets: Mapping[TopicPartition, int], done_before: int) -> None:
        for tp, offset in offsets.items():
            state = self._partitions[tp]
            state.committed = max(offset, state.committed or 0)
            self._committed[tp] = state.committed
        self.commits += 1
        self._restart_period(done_before)

    def _restart_period(self, done_before: int) -> None:
        """After a commit attempt: count done messages and time afresh (later ones still count)."""
        self._done_since_commit = max(0, self._done_since_commit - done_before)
        self._last_commit = self._clock()

    def _state(self, topic: str, partition: int) -> _PartitionOffsets:
        # TopicPartition is a NamedTuple: a plain (topic, partition) tuple finds its entry.
        state = self._partitions.get((topic, partition))  # type: ignore[call-overload]
        if state is None:
            state = self._partitions[TopicPartition(topic, partition)] = _PartitionOffsets()
        return state


def _commit_config(config: OffsetCommitConfig | Mapping[str, Any] | None) -> OffsetCommitConfig:
    """OFFSET_COMMIT_CONFIG as a dict (the original d_a's form) or a validated OffsetCommitConfig."""
    if config is None:
        return OffsetCommitConfig()
    if isinstance(config, OffsetCommitConfig):
        return config
    if not isinstance(config, Mapping):
        raise ConfigError(f"offset_commit: expected a mapping, got {type(config).__name__}")
    try:
        return OffsetCommitConfig.model_validate(dict(config))
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc, "offset_commit")) from None


def _position(msg: Any, offset: int | None = None) -> tuple[str, int, int]:
    """(topic, partition, offset) of a KafkaMessage, a `(tp, offset)` pair, or `tp` plus `offset`."""
    if isinstance(msg, KafkaMessage):
        return msg.topic, msg.partition, msg.offset
    if offset is not None:
        return msg[0], msg[1], offset
    tp, offset = msg
    return tp[0], tp[1], offset
