"""Injected faults are each counted under the right kind, and none stops the service."""

from __future__ import annotations

import asyncio

import pytest
from helpers import until

from d_a.service import AsyncDataAnalysisService
from d_a.simulator import FaultConfig, StationSimulator

EXPECTED = {
    "malformed_json": "not_json",
    "nan_value": "not_json",
    "wrong_shape": "wrong_shape",
    "missing_id": "missing_id",
    "unknown_station": "unknown_station",
    "wrong_type": "wrong_type",
    "huge_array": "too_large",
}


@pytest.mark.parametrize("fault", sorted(EXPECTED))
async def test_each_fault_kind_is_counted_under_its_kind(transport, broker, fault: str) -> None:
    sim = StationSimulator(stations=4, seed=11, history_hours=1, faults=FaultConfig(rate=0.2, kinds=(fault,)))
    calls = []
    service = AsyncDataAnalysisService("operation_optimization", transport=transport)
    messages = [m for m in sim.initial_messages() + sim.advance(120) if m.topic in service.topics]
    injected = sum(m.fault == fault for m in messages)
    assert injected > 0
    await service.start(lambda s, data: calls.append(s))
    try:
        for m in messages:
            broker.produce(m.topic, m.value, key=m.key)
        await until(lambda: service.get_service_status()["counters"]["messages"] >= len(messages))
        await asyncio.sleep(0.2)
        status = service.get_service_status()
    finally:
        await service.stop()
    assert set(status["bad_input"]) == {EXPECTED[fault]}, status["bad_input"]
    counted = status["bad_input"][EXPECTED[fault]]
    assert counted >= 1 if fault == "unknown_station" else counted >= injected
    assert status["main_loop_alive"] is True and status["counters"]["callback_errors"] == 0
    assert calls  # the clean data kept flowing


@pytest.mark.parametrize("fault", ["late", "out_of_order", "duplicate"])
async def test_late_reordered_and_repeated_messages_are_not_bad_input(transport, broker, fault: str) -> None:
    sim = StationSimulator(stations=3, seed=5, history_hours=1, faults=FaultConfig(rate=0.2, kinds=(fault,)))
    service = AsyncDataAnalysisService("operation_optimization", transport=transport)
    messages = [m for m in sim.initial_messages() + sim.advance(120) + sim.flush() if m.topic in service.topics]
    await service.start(lambda s, data: None)
    try:
        for m in messages:
            broker.produce(m.topic, m.value, key=m.key)
        await until(lambda: service.get_service_status()["counters"]["messages"] >= len(messages))
        status = service.get_service_status()
    finally:
        await service.stop()
    assert status["bad_input"] == {}
