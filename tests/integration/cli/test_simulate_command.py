"""`d-a simulate` feeds a real broker with every input topic."""

from __future__ import annotations

import asyncio
import uuid

from d_a.cli import main
from d_a.kafka import AsyncKafkaConsumerClient
from d_a.simulator import TOPICS


def test_simulate_publishes_all_input_topics(embedded_broker, capsys) -> None:
    code = main(
        [
            "simulate",
            "--bootstrap",
            embedded_broker.bootstrap,
            "--stations",
            "3",
            "--duration",
            "2",
            "--speed",
            "300",
            "--history-hours",
            "2",
        ]
    )
    assert code == 0
    assert "messages for 3 stations sent to" in capsys.readouterr().out

    async def topics_seen() -> set[str]:
        config = {
            "bootstrap_servers": embedded_broker.bootstrap,
            "auto_offset_reset": "earliest",
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 1000,
        }
        seen: set[str] = set()
        async with AsyncKafkaConsumerClient(list(TOPICS), config, group_id=uuid.uuid4().hex) as consumer:
            for _ in range(60):
                seen |= {m.topic for m in await consumer.getmany(timeout_ms=500)}
                if len(seen) >= len(TOPICS) - 1:
                    break
        return seen

    seen = asyncio.run(topics_seen())
    # device errors are rare events: every other topic must have arrived
    assert set(TOPICS) - seen <= {"SCHEDULE-DEVICE-ERROR"}
