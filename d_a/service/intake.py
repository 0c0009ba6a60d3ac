"""Intake: the service's consumer, its offsets, and what holds offsets back.

A message's offset is committed once it is done: every station it touched ran a callback that saw
it (DeliveryTracker releases it), and neither a dead-letter copy nor a batch upload still waits for
it (the PositionGate lets it go). Fetching and a switch of consumer never overlap (`lock`).
"""

from __future__ import annotations

import asyncio

from ..config.schema import OffsetCommitConfig
from ..kafka.message import KafkaMessage
from ..kafka.offsets import OffsetManager
from ..kafka.transport import AsyncConsumer
from .backlog import BacklogGauge
from .delivery import Position
from .position_gate import PositionGate

__all__ = ["Intake"]


class Intake:
    """One consumer and its OffsetManager; `gate` holds positions back for dead letters and batches;
    `backlog` says whether the consumer reads a backlog."""

    def __init__(self, consumer: AsyncConsumer, commit: OffsetCommitConfig) -> None:
        self.consumer = consumer
        self.offsets = OffsetManager(consumer, commit)
        self.backlog = BacklogGauge()
        self.gate = PositionGate(self._mark_done)
        self.lock = asyncio.Lock()  # a fetch (and its batch's application) and a consumer switch never overlap

    @property
    def topics(self) -> list[str]:
        return list(self.consumer.topics)

    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        """Commit what is done, and close the consumer."""
        await self.offsets.close()
        await self.consumer.stop()

    async def replace(self, consumer: AsyncConsumer) -> None:
        """Switch to another consumer (other topics): commit, close, start the new one."""
        async with self.lock:
            await self.stop()
            await consumer.start()
            self.consumer = consumer
            self.offsets = OffsetManager(consumer, self.offsets.config)
            self.backlog = BacklogGauge()

    async def fetch(self, timeout_ms: int) -> list[KafkaMessage]:
        """The next batch (empty after `timeout_ms`)."""
        return await self.consumer.getmany(timeout_ms=timeout_ms)

    def release(self, positions: list[Position]) -> None:
        """Positions every station has seen: done, unless the gate still holds one back."""
        self._mark_done(self.gate.released(positions))

    def behind(self) -> bool:
        """Whether the consumer reads a backlog rather than keeping up with a live feed (see backlog.py)."""
        return self.backlog.behind(self.consumer.get_lag_info())

    def _mark_done(self, positions: list[Position]) -> None:
        for topic, partition, offset in positions:
            self.offsets.mark_done((topic, partition), offset)
