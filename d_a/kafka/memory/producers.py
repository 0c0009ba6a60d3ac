"""The in-memory producers: the sync and async faces of one producer core."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ...errors import KafkaConnectionError
from ..message import Headers, encode_value, exact_bytes, key_bytes
from .broker import InMemoryBroker
from .consumers import _AsyncFace

__all__ = ["AsyncMemoryProducer", "MemoryProducer"]

_Outgoing = tuple[bytes | None, bytes, Headers]  # a message being produced: (key, value, headers)


class _ProducerCore:
    """What the sync and the async producer share: encoding, state, retry schedule."""

    def __init__(self, broker: InMemoryBroker, retries: int, retry_backoff_ms: int) -> None:
        self.broker = broker
        self.retries = retries
        self.retry_backoff = retry_backoff_ms / 1000
        self.started = False
        self.closed = False

    @property
    def connected(self) -> bool:
        return self.started and not self.closed and self.broker.available

    def start(self) -> None:
        self.broker._check_available()
        self.started = True

    def stop(self) -> None:
        self.closed = True

    def payload(self, items: Iterable[tuple[bytes | str | None, Any]], headers: Headers = ()) -> deque[_Outgoing]:
        """(key, value, headers) as bytes: values as UTF-8 JSON (bytes as they are), str keys as UTF-8."""
        if self.closed or not self.started:
            raise KafkaConnectionError("the producer is closed" if self.closed else "the producer is not started")
        return deque((key_bytes(key), _value_bytes(value), headers) for key, value in items)

    def send(self, topic: str, payload: deque[_Outgoing]) -> None:
        """One attempt; what was sent leaves `payload`, so a retry sends only the rest."""
        while payload:
            key, value, headers = payload[0]
            self.broker.produce(topic, value, key, headers=headers)
            payload.popleft()

    def retry_delays(self) -> Iterator[float | None]:
        """The pause before each retry, then None: the last attempt's error is raised."""
        for _ in range(self.retries):
            yield self.retry_backoff
        yield None


def _value_bytes(value: Any) -> bytes:
    return exact_bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else encode_value(value)


class MemoryProducer:
    """Sync producer; `send` retries `retries` times while the broker is unavailable, then raises."""

    def __init__(self, broker: InMemoryBroker, *, retries: int = 3, retry_backoff_ms: int = 20) -> None:
        self._core = _ProducerCore(broker, retries, retry_backoff_ms)
        self._core.start()

    @property
    def connected(self) -> bool:
        return self._core.connected

    def send(self, topic: str, value: Any, key: bytes | str | None = None, *, headers: Headers = ()) -> None:
        payload = self._core.payload([(key, value)], headers)
        for delay in self._core.retry_delays():
            try:
                return self._core.send(topic, payload)
            except KafkaConnectionError:
                if delay is None:
                    raise
                time.sleep(delay)

    def close(self) -> None:
        self._core.stop()


class AsyncMemoryProducer(_AsyncFace):
    """Async producer; sends retry `retries` times while the broker is unavailable, then raise."""

    def __init__(self, broker: InMemoryBroker, *, retries: int = 3, retry_backoff_ms: int = 20) -> None:
        self._core = _ProducerCore(broker, retries, retry_backoff_ms)

    async def send(self, topic: str, value: Any, key: bytes | str | None = None, *, headers: Headers = ()) -> None:
        await self.send_many(topic, [(key, value)], headers=headers)

    async def send_many(
        self, topic: str, items: Sequence[tuple[bytes | str | None, Any]], *, headers: Headers = ()
    ) -> None:
        """Send (key, value) pairs in order, each with `headers`; a retry sends only those not sent yet."""
        payload = self._core.payload(items, headers)
        for delay in self._core.retry_delays():
            try:
                return self._core.send(topic, payload)
            except KafkaConnectionError:
                if delay is None:
                    raise
                await asyncio.sleep(delay)
