"""At-least-once as the user sees it: after a crash, every message's data reaches a callback."""

from __future__ import annotations

import asyncio
import tracemalloc

from service_helpers import publish, until

from d_a.service import AsyncDataAnalysisService

CONFIG = {
    "topics": {"SITE-SEQ": {"fields": ["seq"], "modules": ["seq_model"], "window_size": 5000}},
    "module_dependencies": {},
    "offset_commit": {"commit_interval_seconds": 0.05, "commit_batch_size": 10},
}


async def crash(service: AsyncDataAnalysisService) -> None:
    """Stop like a killed process: no final commit, no flush, nothing waited for."""
    assert service.engine is not None
    await service.engine.abort()
    service.engine = None


async def test_every_message_reaches_a_callback_across_an_unclean_restart(transport, broker) -> None:
    seen: set[int] = set()

    async def model(station_id, module_input):
        await asyncio.sleep(0.003)
        seen.update(module_input["seq_window"])

    first = AsyncDataAnalysisService("seq_model", transport=transport, config=CONFIG, group_id="seq")
    await first.start(model)
    for seq in range(600):
        publish(broker, "SITE-SEQ", {"stationId": f"S{seq % 7}", "seq": seq}, key=f"S{seq % 7}")
        if seq % 50 == 0:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    await crash(first)
    before_restart = set(seen)
    for seq in range(600, 1000):
        publish(broker, "SITE-SEQ", {"stationId": f"S{seq % 7}", "seq": seq}, key=f"S{seq % 7}")

    second = AsyncDataAnalysisService("seq_model", transport=transport, config=CONFIG, group_id="seq")
    await second.start(model)
    try:
        await until(lambda: seen >= set(range(1000)), timeout=15)
    finally:
        await second.stop()
    assert len(before_restart) < 1000  # the crash really cut the stream
    assert seen >= set(range(1000))


async def test_a_clean_stop_commits_so_a_restart_replays_nothing_seen(transport, broker) -> None:
    runs: list[list[int]] = []

    async def model(station_id, module_input):
        runs.append(list(module_input["seq_window"]))

    service = AsyncDataAnalysisService("seq_model", transport=transport, config=CONFIG, group_id="clean")
    await service.start(model)
    for seq in range(20):
        publish(broker, "SITE-SEQ", {"stationId": "S1", "seq": seq}, key="S1")
    await until(lambda: runs and runs[-1][-1:] == [19])
    await service.stop()

    replayed: list[list[int]] = []
    again = AsyncDataAnalysisService("seq_model", transport=transport, config=CONFIG, group_id="clean")
    await again.start(lambda s, data: replayed.append(data["seq_window"]))
    await asyncio.sleep(0.5)
    await again.stop()
    assert replayed == []


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
