"""A commit that never returns (aiokafka caught in a rebalance after the broker lost the group) is
cut short, so the consume loop that waits for it goes on fetching."""

from __future__ import annotations

import asyncio

import pytest

from d_a.errors import KafkaConnectionError
from d_a.kafka import AsyncKafkaConsumerClient, TopicPartition, async_clients


class HangingConsumer:
    def __init__(self) -> None:
        self.calls = 0

    async def commit(self, offsets) -> None:
        self.calls += 1
        await asyncio.Event().wait()  # never set


async def test_a_commit_that_never_returns_fails_after_the_timeout(monkeypatch) -> None:
    monkeypatch.setattr(async_clients, "COMMIT_TIMEOUT_S", 0.05)
    client = AsyncKafkaConsumerClient(["SITE-SEQ"], {"bootstrap_servers": "127.0.0.1:9"}, group_id="g")
    hanging = HangingConsumer()
    client._by_topic["SITE-SEQ"] = hanging
    with pytest.raises(KafkaConnectionError, match="timed out"):
        await asyncio.wait_for(client.commit_offsets({TopicPartition("SITE-SEQ", 0): 5}), 5)
    assert hanging.calls == 1
