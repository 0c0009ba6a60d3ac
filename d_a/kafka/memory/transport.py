"""MemoryTransport: the in-memory broker's clients, as a transport a service is given."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...errors import ConfigError
from ..assignment import StartChooser
from .broker import InMemoryBroker
from .consumers import AsyncMemoryConsumer, MemoryConsumer
from .global_readers import AsyncMemoryGlobalReader, MemoryGlobalReader
from .producers import AsyncMemoryProducer, MemoryProducer

__all__ = ["MemoryTransport"]


class MemoryTransport:
    """The `Transport` of the in-memory broker: every client it makes shares `broker`."""

    name = "memory"

    def __init__(
        self,
        broker: InMemoryBroker | None = None,
        *,
        group_id: str = "data_analysis_group",
        auto_offset_reset: str = "earliest",
        max_poll_records: int = 500,
    ) -> None:
        self.broker = broker if broker is not None else InMemoryBroker()
        self.group_id = group_id
        self.auto_offset_reset = auto_offset_reset
        self.max_poll_records = max_poll_records

    def async_consumer(
        self, topics: Sequence[str], *, group_id: str | None = None, scale_out: bool = False
    ) -> AsyncMemoryConsumer:
        if scale_out:
            raise ConfigError("scale_out needs Kafka: the memory broker's groups share whole topics, not partitions")
        return AsyncMemoryConsumer(topics, self.broker, **self._consumer_options(group_id))

    def async_producer(self) -> AsyncMemoryProducer:
        return AsyncMemoryProducer(self.broker)

    def consumer(
        self, topics: Sequence[str], *, group_id: str | None = None, start_from: StartChooser | None = None
    ) -> MemoryConsumer:
        return MemoryConsumer(topics, self.broker, **self._consumer_options(group_id), start_from=start_from)

    def producer(self) -> MemoryProducer:
        return MemoryProducer(self.broker)

    def async_global_reader(self, topics: Sequence[str]) -> AsyncMemoryGlobalReader:
        return AsyncMemoryGlobalReader(topics, self.broker)

    def global_reader(self, topics: Sequence[str]) -> MemoryGlobalReader:
        return MemoryGlobalReader(topics, self.broker)

    def _consumer_options(self, group_id: str | None) -> dict[str, Any]:
        return {
            "group_id": group_id or self.group_id,
            "auto_offset_reset": self.auto_offset_reset,
            "max_poll_records": self.max_poll_records,
        }
