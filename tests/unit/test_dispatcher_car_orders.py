"""DataDispatcher: a second of car orders is complete by the clock too (a session's last second)."""

from __future__ import annotations

import time

import pytest

from d_a import DataDispatcher, load_config
from d_a.topics import parse_time

ORDERS = "SCHEDULE-CAR-ORDER"
MODULE = "operation_optimization"
START = parse_time("2025-11-01 08:00:00")
GRACE = 0.5  # the packaged second_grace_seconds of SCHEDULE-CAR-ORDER


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def order(station: str, second: int, gun: int = 1, *, last: bool = False) -> dict:
    """A car order as the simulator writes one: one gun, one second of a session started at START."""
    send_time = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(START + second))
    return {
        "stationId": station,
        "transactionSerialNo": f"{station}{gun:02d}20251101080000",
        "hostCode": f"H{station[-4:]}",
        "gunNo": gun,
        "terminalMaxOutElectric": 250.0,
        "startChargeTime": "2025-11-01 08:00:00",
        "endChargeTime": send_time if last else "",
        "beginSOC": 35.0,
        "soc": round(35.0 + second / 60, 2),
        "terminalRequireVoltage": 402.3,
        "terminalRequireElectric": 118.6,
        "outputPower": 47.7,
        "carProducerCode": "BYD",
        "batteryNominalTotalCapacity": 60.0,
        "sendTime": send_time,
    }


def packaged_topics(**order_settings: object) -> dict:
    """The packaged topics, with SCHEDULE-CAR-ORDER's settings changed."""
    topics = load_config().legacy()["TOPIC_DETAIL"]
    topics[ORDERS].update(order_settings)
    return {"topics": topics}


def session_end(dispatcher: DataDispatcher, clock: Clock, station: str = "ST0001") -> list[dict]:
    """Two guns' orders at seconds 0, 1, 2, each arriving 0.3 s into its second; the session ends at 2."""
    last = []
    for second in range(3):
        clock.now = START + second + 0.3
        orders = [order(station, second, gun, last=second == 2) for gun in (1, 2)]
        for item in orders:
            dispatcher.update_topic_data(station, ORDERS, item)
        last = orders
    return last


def second_of(data: dict) -> set[str]:
    return {o["sendTime"] for o in data["car_orders"]}


def test_a_sessions_last_second_is_complete_by_the_clock_and_its_station_runs() -> None:
    clock = Clock(START)
    dispatcher = DataDispatcher(clock=clock)
    last = session_end(dispatcher, clock)
    assert second_of(dispatcher.get_module_input("ST0001", MODULE)) == {"2025-11-01 08:00:01"}
    clock.now = START + 2.3 + 1 + GRACE - 0.01
    assert dispatcher.close_due_seconds() == set()
    clock.now += 0.01
    assert dispatcher.close_due_seconds() == {"ST0001"}
    data = dispatcher.get_module_input("ST0001", MODULE)
    assert data["car_orders"] == last
    assert [o["endChargeTime"] for o in data["car_orders"]] == ["2025-11-01 08:00:02"] * 2
    assert dispatcher.close_due_seconds(clock.now + 60) == set()  # complete once: no further runs


@pytest.mark.parametrize("window_format", ["list", "numpy"])
def test_a_reader_after_the_due_time_gets_the_last_second_without_a_service(window_format) -> None:
    """The library path: nobody calls close_due_seconds; reading is enough. The input kept from
    the earlier read (car_orders of the second before) is not handed out again."""
    clock = Clock(START)
    dispatcher = DataDispatcher(clock=clock, window_format=window_format)
    last = session_end(dispatcher, clock)
    before = dispatcher.get_module_input("ST0001", MODULE)
    clock.now = START + 2.3 + 1 + GRACE
    after = dispatcher.get_module_input("ST0001", MODULE)
    assert after["car_orders"] == last
    assert second_of(before) == {"2025-11-01 08:00:01"}
    assert list(after["soc_window"]) == list(before["soc_window"])  # the same records, one more second complete
    assert len(after["soc_window"]) == 6


def test_a_late_order_of_a_closed_second_updates_it_and_runs_the_station() -> None:
    clock = Clock(START)
    dispatcher = DataDispatcher(clock=clock)
    clock.now = START + 0.3
    dispatcher.update_topic_data("ST0001", ORDERS, order("ST0001", 0, gun=1, last=True))
    clock.now = START + 2.0
    assert dispatcher.close_due_seconds() == {"ST0001"}
    clock.now = START + 2.4
    report = dispatcher.ingest(ORDERS, order("ST0001", 0, gun=2, last=True))
    assert report.triggered == {"ST0001"}
    assert [o["gunNo"] for o in dispatcher.get_module_input("ST0001", MODULE)["car_orders"]] == [1, 2]


def test_only_the_stations_whose_orders_stopped_are_closed_and_each_is_listed_once() -> None:
    clock = Clock(START)
    dispatcher = DataDispatcher(clock=clock)
    stations = [f"ST{n:04d}" for n in range(1, 41)]
    for second in range(30):
        clock.now = START + second + 0.1
        charging = stations if second < 20 else stations[:10]  # 30 sessions end at second 19
        dispatcher.ingest_batch(ORDERS, [order(s, second, last=second == 19) for s in charging])
        assert dispatcher.close_due_seconds() == (set(stations[10:]) if second == 21 else set())
        assert len(dispatcher.windows.due) <= len(stations)  # one listing per window, however many seconds
    for station in stations[10:]:
        assert second_of(dispatcher.get_module_input(station, MODULE)) == {"2025-11-01 08:00:19"}
    assert second_of(dispatcher.get_module_input(stations[0], MODULE)) == {"2025-11-01 08:00:28"}


def test_nothing_closes_by_the_clock_while_it_is_held() -> None:
    """What a service does while its consumption is paused: unread orders may belong to the open second."""
    clock = Clock(START)
    dispatcher = DataDispatcher(clock=clock)
    session_end(dispatcher, clock)
    dispatcher.close_by_clock = False
    clock.now += 60
    assert dispatcher.close_due_seconds() == set()
    assert second_of(dispatcher.get_module_input("ST0001", MODULE)) == {"2025-11-01 08:00:01"}
    dispatcher.close_by_clock = True
    assert dispatcher.close_due_seconds() == {"ST0001"}


def test_a_null_grace_keeps_a_second_open_until_a_newer_one_begins() -> None:
    clock = Clock(START)
    dispatcher = DataDispatcher(clock=clock, config=packaged_topics(second_grace_seconds=None))
    session_end(dispatcher, clock)
    clock.now += 3600
    assert dispatcher.close_due_seconds() == set()
    assert second_of(dispatcher.get_module_input("ST0001", MODULE)) == {"2025-11-01 08:00:01"}


def test_a_reload_that_rebuilds_the_window_keeps_the_closed_second_and_lists_an_open_one() -> None:
    clock = Clock(START)
    dispatcher = DataDispatcher(clock=clock)
    last = session_end(dispatcher, clock, "ST0001")
    session_end(dispatcher, clock, "ST0002")
    clock.now = START + 2.3 + 1 + GRACE
    dispatcher.get_module_input("ST0001", MODULE)  # closes ST0001's second; ST0002's stays listed
    clock.now += 0.1
    late = order("ST0001", 2, gun=3, last=True)
    dispatcher.update_topic_data("ST0001", ORDERS, late)  # joins the closed second (and keeps it from the clock)
    dispatcher.reload_config(packaged_topics(max_records_per_second=8))  # a new window shape: rebuilt
    assert dispatcher.get_module_input("ST0001", MODULE)["car_orders"] == [*last, late]
    assert dispatcher.close_due_seconds() == {"ST0002"}
