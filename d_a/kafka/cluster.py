"""KafkaTransport: consumers and producers talking to a Kafka cluster (or the embedded broker)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..config import KafkaSettings
from .assignment import StartChooser
from .async_clients import AsyncKafkaConsumerClient, AsyncKafkaProducerClient
from .async_global_reader import AsyncKafkaGlobalReader
from .client_config import resolve_settings
from .sync_clients import KafkaConsumerClient, KafkaProducerClient
from .sync_global_reader import KafkaGlobalReader

__all__ = ["KafkaTransport"]


class KafkaTransport:
    """Makes Kafka clients from one set of settings (KAFKA_CONFIG, nested or flat)."""

    name = "kafka"

    def __init__(self, config: KafkaSettings | Mapping[str, Any] | None = None) -> None:
        self.settings = resolve_settings(config)

    @property
    def bootstrap_servers(self) -> list[str]:
        return self.settings.bootstrap_servers

    def async_consumer(
        self, topics: Sequence[str], *, group_id: str | None = None, scale_out: bool = False
    ) -> AsyncKafkaConsumerClient:
        return AsyncKafkaConsumerClient(topics, self.settings, group_id=group_id, decode_json=True, scale_out=scale_out)

    def async_producer(self) -> AsyncKafkaProducerClient:
        return AsyncKafkaProducerClient(self.settings)

    def consumer(
        self, topics: Sequence[str], *, group_id: str | None = None, start_from: StartChooser | None = None
    ) -> KafkaConsumerClient:
        return KafkaConsumerClient(topics, self.settings, group_id=group_id, start_from=start_from)

    def producer(self) -> KafkaProducerClient:
        return KafkaProducerClient(self.settings)

    def async_global_reader(self, topics: Sequence[str]) -> AsyncKafkaGlobalReader:
        return AsyncKafkaGlobalReader(topics, self.settings)

    def global_reader(self, topics: Sequence[str]) -> KafkaGlobalReader:
        return KafkaGlobalReader(topics, self.settings)
