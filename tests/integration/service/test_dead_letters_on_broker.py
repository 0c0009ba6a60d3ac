"""`d-a dead-letters` on a broker: a poison message a service passed to its dead-letter topic is
counted there, with its topic and kind. (That a dead letter holds its message's offset back until
the topic has it is tested on both transports in tests/service/test_at_least_once.py.)"""

from __future__ import annotations

import asyncio
import uuid

from helpers import until

from d_a import AsyncDataAnalysisService, AsyncKafkaProducerClient
from d_a.cli import main

POISON = b'{"stationId": "S1", "seq": 1, '  # cut short: not JSON


async def test_d_a_dead_letters_counts_a_poison_message_a_service_passed_on(kafka_config: dict, capsys) -> None:
    suffix = uuid.uuid4().hex[:8]
    topic, dlq, group = f"SITE-SEQ-{suffix}", f"D_A-DEAD-LETTER-{suffix}", f"g-{suffix}"
    config = {
        "topics": {
            topic: {"fields": ["seq"], "types": {"seq": "integer"}, "modules": ["seq_model"], "window_size": 100}
        },
        "module_dependencies": {},
        "service": {"dead_letter_topic": dlq},
    }
    async with AsyncKafkaProducerClient(kafka_config) as producer:
        await producer.send(topic, POISON, key="S1")  # the topic exists before the service subscribes
    service = AsyncDataAnalysisService(
        "seq_model", kafka_config=kafka_config, config=config, group_id=group, output_topic_prefix=f"OUT-{suffix}-"
    )
    await service.start(lambda station, data: None)
    try:
        await until(lambda: service.get_service_status()["dead_letters"]["sent"] == 1, timeout=30.0)
    finally:
        await service.stop()

    capsys.readouterr()
    bootstrap = kafka_config["bootstrap_servers"]
    assert await asyncio.to_thread(main, ["dead-letters", "--bootstrap", bootstrap, "--topic", dlq]) == 0
    out = capsys.readouterr().out
    assert f"1 dead letters on {dlq}" in out
    assert topic in out and "not_json" in out
