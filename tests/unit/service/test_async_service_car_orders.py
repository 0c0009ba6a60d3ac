"""A second of car orders reaches callbacks complete: by a newer order, or by the clock.

Written as a model author uses the service: a callback reading `car_orders`, orders published to
the in-memory transport.
"""

from __future__ import annotations

import asyncio
import time

import orjson
from helpers import until

from d_a import AsyncDataAnalysisService, MemoryTransport

ORDERS = "SCHEDULE-CAR-ORDER"
MODULE = "operation_optimization"
GRACE = 0.5  # the packaged second_grace_seconds of SCHEDULE-CAR-ORDER


def order(station: str, at: float, gun: int = 1, *, last: bool = False) -> dict:
    """A car order as the simulator writes one: one gun in the second of epoch time `at`."""
    send_time = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
    return {
        "stationId": station,
        "transactionSerialNo": f"{station}{gun:02d}20251101080000",
        "hostCode": f"H{station[-4:]}",
        "gunNo": gun,
        "terminalMaxOutElectric": 250.0,
        "startChargeTime": "2025-11-01 08:00:00",
        "endChargeTime": send_time if last else "",
        "beginSOC": 35.0,
        "soc": 60.5,
        "terminalRequireVoltage": 402.3,
        "terminalRequireElectric": 118.6,
        "outputPower": 47.7,
        "carProducerCode": "BYD",
        "batteryNominalTotalCapacity": 60.0,
        "sendTime": send_time,
    }


def send(transport: MemoryTransport, *orders: dict) -> None:
    for item in orders:
        transport.broker.produce(ORDERS, orjson.dumps(item), key=item["stationId"].encode())


def seconds_seen(runs: list[tuple[float, str, list[dict]]], station: str) -> list[list[tuple[str, int]]]:
    """Each run's car_orders of `station`, as (sendTime, gunNo) pairs."""
    return [[(o["sendTime"], o["gunNo"]) for o in orders] for _, s, orders in runs if s == station]


async def test_a_sessions_last_second_reaches_a_callback_without_further_orders() -> None:
    service = AsyncDataAnalysisService(MODULE, transport="memory")
    runs: list[tuple[float, str, list[dict]]] = []
    await service.start(lambda station, data: runs.append((time.monotonic(), station, data["car_orders"])))
    try:
        t = float(int(time.time()))
        send(service.transport, order("ST0001", t), order("ST0001", t + 1))
        await until(lambda: seconds_seen(runs, "ST0001"))
        assert seconds_seen(runs, "ST0001")[-1] == [(order("ST0001", t)["sendTime"], 1)]
        send(service.transport, order("ST0001", t + 2, last=True))  # the gun stops: no order follows
        sent = time.monotonic()
        last = order("ST0001", t + 2, last=True)
        await until(lambda: any(orders == [last] for _, _, orders in runs), timeout=5)
    finally:
        await service.stop()
    seen_at = next(at for at, _, orders in runs if orders == [last])
    assert 1.0 + GRACE - 0.05 <= seen_at - sent < 1.0 + GRACE + 1.0  # one second, the grace, a housekeeping pass
    assert runs[-1][2][0]["endChargeTime"] == last["sendTime"]


async def test_a_late_order_of_a_second_completed_by_the_clock_reaches_a_callback() -> None:
    service = AsyncDataAnalysisService(MODULE, transport="memory")
    runs: list[tuple[float, str, list[dict]]] = []
    await service.start(lambda station, data: runs.append((time.monotonic(), station, data["car_orders"])))
    try:
        t = float(int(time.time()))
        send(service.transport, order("ST0001", t, gun=1, last=True))
        await until(lambda: seconds_seen(runs, "ST0001"), timeout=5)
        send(service.transport, order("ST0001", t, gun=2, last=True))  # delayed past the grace
        await until(lambda: len(seconds_seen(runs, "ST0001")) == 2, timeout=5)
        await asyncio.sleep(1.0 + GRACE + 0.3)  # and no run after it: the second is complete already
    finally:
        await service.stop()
    second = order("ST0001", t)["sendTime"]
    assert seconds_seen(runs, "ST0001") == [[(second, 1)], [(second, 1), (second, 2)]]


async def test_a_replayed_backlog_never_gives_a_callback_half_a_second() -> None:
    """Orders of a day ago (a producer catching up after an outage) arriving far faster than real
    time, a few at a time, so that runs see seconds whose orders are still being read: a second is
    complete when a newer one arrives or, for the last one, by the clock, never in between."""
    transport = MemoryTransport()
    stations = ["ST0001", "ST0002", "ST0003"]
    day_ago = float(int(time.time())) - 86_400
    backlog = [
        order(s, day_ago + second, gun, last=second == 19)
        for second in range(20)
        for s in stations
        for gun in (1, 2, 3, 4)
    ]
    service = AsyncDataAnalysisService(MODULE, transport=transport)
    runs: list[tuple[float, str, list[dict]]] = []

    async def model(station, data):
        runs.append((time.monotonic(), station, data["car_orders"]))
        await asyncio.sleep(0.002)

    await service.start(model)
    try:
        for first in range(0, len(backlog), 5):  # 240 orders in about a quarter of a second
            send(transport, *backlog[first : first + 5])
            await asyncio.sleep(0.001)
        last = order("ST0001", day_ago + 19)["sendTime"]
        await until(
            lambda: all(any(o and o[0][0] == last for o in seconds_seen(runs, s)) for s in stations), timeout=10
        )
    finally:
        await service.stop()
    for station in stations:
        seen = [orders for orders in seconds_seen(runs, station) if orders]
        assert len(seen) >= 2, station
        for orders in seen:
            assert [gun for _, gun in orders] == [1, 2, 3, 4], (station, orders)
            assert len({send_time for send_time, _ in orders}) == 1
        assert [orders[0][0] for orders in seen] == sorted(orders[0][0] for orders in seen)


async def test_while_consumption_waits_for_callbacks_the_clock_completes_no_second() -> None:
    """Consumption pauses while a slow callback holds more messages than `max_held_messages`; the
    second whose orders are still unread then must not be completed by the clock meanwhile."""
    transport = MemoryTransport(max_poll_records=2)
    t = float(int(time.time())) - 60
    send(transport, *[order("ST0001", t + second, gun) for second in (0, 1) for gun in (1, 2, 3)])
    service = AsyncDataAnalysisService(
        MODULE, transport=transport, config={"service": {"max_held_messages": 3, "max_workers": 1}}
    )
    runs: list[tuple[float, str, list[dict]]] = []

    async def model(station, data):
        runs.append((time.monotonic(), station, data["car_orders"]))
        if len(runs) == 1:
            await asyncio.sleep(1.0 + GRACE + 1.0)  # the first run holds 4 orders: reading waits for it

    await service.start(model)
    try:
        await until(lambda: len(seconds_seen(runs, "ST0001")) >= 2, timeout=10)
        await asyncio.sleep(0.3)
    finally:
        await service.stop()
    first, second = (order("ST0001", t + s)["sendTime"] for s in (0, 1))
    assert seconds_seen(runs, "ST0001") == [[(first, g) for g in (1, 2, 3)], [(second, g) for g in (1, 2, 3)]]
    assert service.get_service_status()["counters"]["consumption_pauses"] >= 1
