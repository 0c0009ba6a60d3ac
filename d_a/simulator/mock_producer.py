"""MockProducer: the test-data producer of the original d_a's developer guide, on d_a's simulator.

The original d_a imports it from its own `tests/test_mock_producer.py`; with d_a it is
`from d_a.simulator import MockProducer`, with the same calls: `start`, `send_all_topics(station_id)`,
`run_continuous(duration_seconds, interval_seconds)` and `stop`. It sends realistic messages of
every input topic (the simulator's, see `StationSimulator`) to Kafka, or with `transport="memory"`
(or `D_A_TRANSPORT=memory`) to the process's in-memory broker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import orjson

from ..kafka.choice import choose_transport
from ..kafka.transport import AsyncProducer, Transport
from .engine import StationSimulator
from .message import SimMessage

__all__ = ["MockProducer"]

_SIMULATED_ID = b'"ST0001"'  # the id of a one-station simulator's station
_SAMPLE_SECONDS = 900  # a quarter hour of a station's live data holds a message of every frequent topic


class MockProducer:
    """Sends simulated station data to Kafka (`kafka_config`: KAFKA_CONFIG, nested or flat; the
    configured one by default)."""

    def __init__(
        self,
        kafka_config: Mapping[str, Any] | None = None,
        *,
        stations: int = 10,
        seed: int = 0,
        transport: Transport | str | None = None,
    ) -> None:
        self.transport = choose_transport(transport, kafka_config)
        self.stations = stations
        self.seed = seed
        self.sent = 0
        self._producer: AsyncProducer | None = None

    async def start(self) -> None:
        """Connect (KafkaConnectionError after the configured retries)."""
        producer = self.transport.async_producer()
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def send_all_topics(self, station_id: str) -> int:
        """One station's data of every input topic: its reference data (parameters, calendar,
        prices, weather, hourly history) and the newest message of each live topic over a quarter
        hour, addressed to `station_id`. Returns how many messages were sent."""
        simulator = StationSimulator(stations=1, seed=self.seed, history_hours=24)
        live: dict[str, SimMessage] = {}
        for message in simulator.advance(_SAMPLE_SECONDS):
            live[message.topic] = message
        address = orjson.dumps(station_id)
        messages = [*simulator.initial_messages(), *live.values()]
        await self._send([(m.topic, station_id.encode(), m.value.replace(_SIMULATED_ID, address)) for m in messages])
        return len(messages)

    async def run_continuous(self, duration_seconds: float = 600, interval_seconds: float = 15) -> int:
        """Send the fleet's reference data, then every `interval_seconds` of wall time the data of
        that many simulated seconds, for `duration_seconds`. Returns how many messages were sent."""
        if interval_seconds <= 0:
            raise ValueError(f"interval_seconds must be > 0, got {interval_seconds!r}")
        simulator = StationSimulator(stations=self.stations, seed=self.seed, history_hours=24)
        sent = await self._send([(m.topic, m.key, m.value) for m in simulator.initial_messages()])
        end = time.monotonic() + duration_seconds
        while (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(interval_seconds, left))
            messages = simulator.advance(interval_seconds)
            sent += await self._send([(m.topic, m.key, m.value) for m in messages])
        return sent

    async def _send(self, messages: list[tuple[str, bytes | None, bytes]]) -> int:
        if self._producer is None:
            raise RuntimeError("MockProducer is not started: await producer.start() first")
        by_topic: dict[str, list[tuple[bytes | None, bytes]]] = {}
        for topic, key, value in messages:
            by_topic.setdefault(topic, []).append((key, value))
        for topic, items in by_topic.items():
            await self._producer.send_many(topic, items)
        self.sent += len(messages)
        return len(messages)
