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
from .delivery import Position
from .position_gate import PositionGate

__all__ = ["Intake"]


class Intake:
    """One consumer and its OffsetManager; `gate` holds positions back for dead letters and batches."""

    def __init__(self, consumer: AsyncConsumer, commit: OffsetCommitConfig) -> None:
        self.consumer = consumer
        self.offsets = OffsetManager(consumer, commit)
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

    async def fetch(self, timeout_ms: int) -> list[KafkaMessage]:
        """The next batch (empty after `timeout_ms`)."""
        return await self.consumer.getmany(timeout_ms=timeout_ms)

    def release(self, positions: list[Position]) -> None:
        """Positions every station has seen: done, unless the gate still holds one back."""
        self._mark_done(self.gate.released(positions))

    def behind(self) -> bool:
        """Whether a partition's end offset, as last seen, is beyond the consumer's position."""
        return any(p.get("lag") for partitions in self.consumer.get_lag_info().values() for p in partitions.values())

    def _mark_done(self, positions: list[Position]) -> None:
        for topic, partition, offset in positions:
            self.offsets.mark_done((topic, partition), offset)
