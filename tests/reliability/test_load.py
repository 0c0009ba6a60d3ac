"""Overload and churn on the in-memory transport.

Overload: callbacks far slower than the feed. Consumption pauses and resumes, resident memory
stays under a bound, and every message's data still reaches a callback.
Churn: stations appear and go quiet, with a short `data_expire_seconds`. Their windows, scheduler
entries and holds are freed, and resident memory returns to a plateau.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time

import orjson
from conftest import report, scale
from helpers import until

from d_a import AsyncDataAnalysisService
from d_a.kafka import InMemoryBroker, MemoryTransport

SEQ = "SITE-SEQ"
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


def config(**service: object) -> dict:
    return {
        "topics": {
            SEQ: {"fields": ["seq"], "types": {"seq": "integer"}, "modules": ["seq_model"], "window_size": 5_000}
        },
        "module_dependencies": {},
        "offset_commit": {"commit_interval_seconds": 0.2},
        "service": service,
    }


def publish(broker: InMemoryBroker, station: str, seq: int) -> None:
    broker.produce(SEQ, orjson.dumps({"stationId": station, "seq": seq}), key=station.encode())


async def test_callbacks_ten_times_slower_than_the_feed() -> None:
    seconds, rate, stations = scale(5, 180), 2_000, 20
    broker = InMemoryBroker()
    seen: set[int] = set()
    runs = 0

    def slow_model(station_id: str, data: dict) -> None:
        nonlocal runs
        runs += 1
        time.sleep(0.25)  # 4 threads x 4 runs/s: a station runs every 1.25 s, while 2,500 messages arrive
        seen.update(data["seq_window"])

    service = AsyncDataAnalysisService(
        "seq_model",
        transport=MemoryTransport(broker),
        config=config(max_workers=4, max_held_messages=1_000),
        group_id="overload",
    )
    await service.start(slow_model)
    start_rss, peak_rss, sent = rss_mb(), 0.0, 0
    began = time.monotonic()
    try:
        while time.monotonic() - began < seconds:
            tick = time.monotonic()
            for _ in range(rate // 10):
                publish(broker, f"S{sent % stations:03d}", sent)
                sent += 1
            peak_rss = max(peak_rss, rss_mb())
            await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
        pauses = service.get_service_status()["counters"]["consumption_pauses"]
        seen_at_feed_end = len(seen)
        # The backlog drains at the callbacks' pace (held messages x runs/s / stations, ~800/s), so
        # the deadline is on progress: the test fails when no new message reaches a callback for 30 s.
        last_seen, stalled_since = len(seen), time.monotonic()
        while seen < set(range(sent)):
            if len(seen) > last_seen:
                last_seen, stalled_since = len(seen), time.monotonic()
            assert time.monotonic() - stalled_since < 30, (
                f"{len(set(range(sent)) - seen)} messages never reached a callback"
            )
            peak_rss = max(peak_rss, rss_mb())
            await asyncio.sleep(0.1)
        drained = time.monotonic() - began - seconds
        status = service.get_service_status()
    finally:
        await service.stop()
    assert pauses >= 1 and status["consumption_paused_seconds"] is None  # it paused, and it resumed
    assert status["counters"]["callback_errors"] == 0
    growth = peak_rss - start_rss
    assert growth < 300, f"resident memory grew {growth:.0f} MB"
    report(
        "overload",
        messages=sent,
        feed_per_s=rate,
        callback_runs=runs,
        consumption_pauses=status["counters"]["consumption_pauses"],
        drained_after_feed_s=f"{drained:.1f}",
        drain_per_s=f"{(sent - seen_at_feed_end) / max(drained, 1e-9):.0f}" if drained > 1 else "-",
        rss_growth_mb=f"{growth:.0f}",
        lost=len(set(range(sent)) - seen),
    )


async def test_stations_come_and_go_and_their_state_is_freed() -> None:
    waves, per_wave = scale(8, 60), 300
    broker = InMemoryBroker()
    service = AsyncDataAnalysisService(
        "seq_model",
        transport=MemoryTransport(broker),
        config=config(data_expire_seconds=0.5, cleanup_interval=0.2),
        group_id="churn",
    )
    await service.start(lambda station, data: None)
    engine = service.engine
    plateau: list[float] = []
    try:
        for wave in range(waves):
            for i in range(per_wave):
                station = f"W{wave:03d}-{i:03d}"
                for seq in range(5):
                    publish(broker, station, seq)
            consumed = await until(
                lambda wave=wave: service.get_service_status()["counters"]["messages"] >= (wave + 1) * per_wave * 5,
                30,
                interval=0.05,
                what="the wave consumed",
            )
            await until(  # within the same 30 s
                lambda: not (service.dispatcher.stations() or engine.scheduler.states or engine.tracker.held_messages),
                30 - consumed,
                interval=0.05,
                what=lambda wave=wave: (
                    f"wave {wave}: {len(service.dispatcher.stations())} stations, "
                    f"{len(engine.scheduler.states)} scheduler entries, {engine.tracker.held_messages} held"
                ),
            )
            gc.collect()
            plateau.append(rss_mb())
        status = service.get_service_status()
    finally:
        await service.stop()
    assert status["counters"]["callback_errors"] == 0 and status["station_count"] == 0
    late_growth = plateau[-1] - plateau[len(plateau) // 2]
    assert late_growth < 20, f"resident memory still growing: {[round(x) for x in plateau]}"
    report(
        "churn",
        stations=waves * per_wave,
        waves=waves,
        rss_mb_after_each_wave="/".join(f"{x:.0f}" for x in plateau),
        growth_second_half_mb=f"{late_growth:.1f}",
    )
