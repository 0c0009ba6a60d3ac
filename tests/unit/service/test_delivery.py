"""Held messages keep their positions only. (At-least-once delivery itself is tested on both
transports in tests/service/test_at_least_once.py.)"""

from __future__ import annotations

import asyncio
import tracemalloc

from helpers import until
from service_helpers import publish

from d_a.service import AsyncDataAnalysisService

CONFIG = {
    "topics": {"SITE-SEQ": {"fields": ["seq"], "modules": ["seq_model"], "window_size": 5000}},
    "module_dependencies": {},
    "offset_commit": {"commit_interval_seconds": 0.05, "commit_batch_size": 10},
}


async def test_messages_held_for_a_busy_station_do_not_keep_their_payloads(transport, broker) -> None:
    """Messages stay held (uncommitted) until a callback of their station has seen them, but only
    their positions are kept: the decoded JSON, here with a key the topic does not keep, is freed."""
    release = asyncio.Event()

    async def model(station_id, module_input):
        await release.wait()

    service = AsyncDataAnalysisService("seq_model", transport=transport, config=CONFIG, group_id="held")
    await service.start(model)
    try:
        publish(broker, "SITE-SEQ", {"stationId": "S0", "seq": -1}, key="S0")
        await until(lambda: service.engine.scheduler.running == 1)  # its callback waits
        for seq in range(4_000):
            publish(broker, "SITE-SEQ", {"stationId": "S0", "seq": seq, "note": "x" * 2_000}, key="S0")
        tracemalloc.start()
        await until(lambda: service.engine.stats.counters["messages"] == 4_001)
        consumed = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert service.get_service_status()["held_messages"] >= 4_000
        assert consumed < 4_000_000  # the last poll batch's payloads (500), not the 4,000 held (8 MB)
    finally:
        release.set()
        await service.stop()
