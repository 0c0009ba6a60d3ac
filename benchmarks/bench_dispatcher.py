"""Dispatcher benchmark: record updates per second per window kind, full-window module input time
(unchanged, and after a new second of car orders as in a service's run), and resident memory per
station with the appendix-B window sizes.

    python benchmarks/bench_dispatcher.py [--quick]

Prints figures only (no assertions). `--quick` shrinks the windows tenfold for a fast smoke run.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable

from d_a.dispatcher import DataDispatcher

START = 1_761_955_200.0  # 2025-11-01 00:00:00 +08:00
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 1e6


def stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def car_order(station: str, t: float, gun: int = 1) -> dict:
    return {
        "stationId": station,
        "transactionSerialNo": f"{station}-{gun}-{int(t) // 3600}",
        "hostCode": "H1",
        "gunNo": gun,
        "terminalMaxOutElectric": 250.0,
        "startChargeTime": stamp(t - t % 3600),
        "endChargeTime": "",
        "beginSOC": 20.0,
        "soc": 20 + (t % 3600) / 60,
        "terminalRequireVoltage": 400.0,
        "terminalRequireElectric": 150.0,
        "outputPower": 60.0 + t % 7,
        "carProducerCode": "BYD",
        "batteryNominalTotalCapacity": 60.5,
        "sendTime": stamp(t),
    }


def gun_status(station: str, t: float, gun: int) -> dict:
    return {"stationId": station, "hostCode": "H1", "gunNo": gun, "status": int(t // 900) % 2, "sendTime": stamp(t)}


def storage(station: str, t: float, unit: int) -> dict:
    return {
        "stationId": station,
        "hostId": "H1",
        "storageId": f"{station}-S{unit}",
        "storagePower": 10.0 + t % 5,
        "storageCurrent": 20.0,
        "storageTempMax": 30.0,
        "storageTempMin": 25.0,
        "storageSOC": 50.0,
        "storageSOH": 98.0,
        "sendTime": stamp(t),
    }


def meter(station: str, t: float) -> dict:
    return {
        "stationId": station,
        "meterId": "M1",
        "meterPower": 300.0 + t % 11,
        "rmeterLimitPower": 600.0,
        "sendTime": stamp(t),
    }


def realtime(station: str, hours: int) -> dict:
    rows = [
        {
            "stationId": station,
            "hostCode": "H1",
            "sendTime": stamp(START + h * 3600),
            "gunPower": {
                "gunNo": [1, 2, 3, 4],
                "outputPowerPerGunAvg": [10.0, 20.0, 30.0, 40.0],
                "outputPowerPerGunMax": [15.0, 25.0, 35.0, 45.0],
            },
            "outputPowerPerStationAvg": 100.0,
            "outputPowerPerStationMax": 120.0,
        }
        for h in range(hours)
    ]
    return {"realTimeData": rows}


def fill_station(dispatcher: DataDispatcher, station: str, scale: int) -> None:
    """All appendix-B windows of operation_optimization full (one car order per second)."""
    sizes = {t: c.window_size // scale for t, c in dispatcher.config.topics.items()}
    batch = 5_000
    for first in range(0, sizes["SCHEDULE-CAR-ORDER"], batch):
        seconds = range(first, min(first + batch, sizes["SCHEDULE-CAR-ORDER"]))
        dispatcher.ingest_batch("SCHEDULE-CAR-ORDER", [car_order(station, START + s) for s in seconds])
    gun_rows = sizes["SCHEDULE-DEVICE-GUN"]
    dispatcher.ingest_batch(
        "SCHEDULE-DEVICE-GUN", [gun_status(station, START + 15 * (i // 4), i % 4 + 1) for i in range(gun_rows)]
    )
    dispatcher.ingest_batch(
        "SCHEDULE-DEVICE-STORAGE",
        [storage(station, START + 15 * (i // 2), i % 2) for i in range(sizes["SCHEDULE-DEVICE-STORAGE"])],
    )
    dispatcher.ingest_batch(
        "SCHEDULE-DEVICE-METER", [meter(station, START + 300 * i) for i in range(sizes["SCHEDULE-DEVICE-METER"])]
    )
    dispatcher.ingest(
        "SCHEDULE-STATION-REALTIME-DATA", realtime(station, max(1, sizes["SCHEDULE-STATION-REALTIME-DATA"]))
    )
    dispatcher.ingest(
        "SCHEDULE-STATION-PARAM",
        [
            {
                "stationId": station,
                "stationLat": 22.5,
                "stationLng": 114.0,
                "gunNum": 4,
                "gridCapacity": 630,
                "meterId": "M1",
                "hostCode": "H1",
            }
        ],
    )


def store_staged(dispatcher: DataDispatcher) -> None:
    """Write what windows still hold staged, so a rate includes the columnar writes."""
    for windows in dispatcher.data_cache.values():
        for window in windows.values():
            window.store_pending()


def updates_per_second(kind_topic: str, make: Callable[[int], dict], n: int, batch: int) -> tuple[float, float]:
    """(batched rate, one-message-at-a-time rate) of station-record updates through the dispatcher."""
    stations = [f"S{i}" for i in range(100)]
    values = [make(i) | {"stationId": stations[i % 100]} for i in range(n)]
    dispatcher = DataDispatcher(data_expire_seconds=10**9)
    t0 = time.perf_counter()
    for first in range(0, n, batch):
        dispatcher.ingest_batch(kind_topic, values[first : first + batch])
    store_staged(dispatcher)
    batched = n / (time.perf_counter() - t0)
    dispatcher = DataDispatcher(data_expire_seconds=10**9)
    single = values[: n // 5]
    t0 = time.perf_counter()
    for value in single:
        dispatcher.ingest(kind_topic, value)
    store_staged(dispatcher)
    return batched, len(single) / (time.perf_counter() - t0)


def run_after(dispatcher: DataDispatcher, topic: str, value: dict) -> None:
    """What a service does when `value` arrives: apply it, then build the station's input."""
    dispatcher.ingest(topic, value)
    dispatcher.get_module_input("ST0000", "operation_optimization")


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(runs), max(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="windows 10x smaller, fewer updates")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    n = 50_000 if args.quick else 200_000

    print(f"d_a dispatcher benchmark ({'quick' if args.quick else 'full'}; one core; 100 stations for updates)")
    gc.collect()
    before = rss_mb()
    stations = 1 if args.quick else 2
    dispatcher = DataDispatcher(data_expire_seconds=10**9)
    t0 = time.perf_counter()
    for i in range(stations):
        fill_station(dispatcher, f"ST{i:04d}", scale)
    fill_s = time.perf_counter() - t0
    gc.collect()
    per_station = (rss_mb() - before) / stations
    print(f"\nfull appendix-B windows{' / 10' if scale > 1 else ''}: filled {stations} station(s) in {fill_s:.1f} s")
    print(f"  resident memory per station: {per_station:,.1f} MB")
    windows_mb = rss_mb()
    for fmt in ("numpy", "list"):  # each format's inputs replace the other's (numpy's buffers go back to the system)
        dispatcher.window_format = fmt
        median, worst = timed(lambda: dispatcher.get_module_input("ST0000", "operation_optimization"), 5)
        gc.collect()
        print(
            f"  get_module_input(operation_optimization), {fmt:5s}: median {median:.1f} ms, max {worst:.1f} ms; "
            f"its kept inputs {rss_mb() - windows_mb:,.1f} MB"
        )
    topics = dispatcher.config.topics
    next_second = iter(range(topics["SCHEDULE-CAR-ORDER"].window_size // scale, 10**9))
    next_report = iter(range(topics["SCHEDULE-DEVICE-GUN"].window_size // scale // 4 + 1, 10**9))  # 15-s slots
    news = {
        "a new second of car orders": lambda: ("SCHEDULE-CAR-ORDER", car_order("ST0000", START + next(next_second))),
        "a new gun report": lambda: ("SCHEDULE-DEVICE-GUN", gun_status("ST0000", START + 15 * next(next_report), 1)),
    }
    for what, make in news.items():
        for fmt in ("numpy", "list"):
            dispatcher.window_format = fmt
            dispatcher.get_module_input("ST0000", "operation_optimization")
            median, _ = timed(lambda make=make: run_after(dispatcher, *make()), 20)
            print(f"  the same after {what} (a service's run), {fmt:5s}: median {median:.2f} ms")
    data = dispatcher.get_module_input("ST0000", "operation_optimization")
    orders, guns = len(data["outputPower_window"]), len(data["status_window"])
    print(f"  car-order window: {orders:,} entries; gun-status rows: {guns:,}")

    print("\nstation-record updates per second (ingest_batch of 500 messages | one message at a time)")
    cases = {
        "append (DEVICE-METER)": ("SCHEDULE-DEVICE-METER", lambda i: meter("S", START + 300 * (i // 100))),
        "append (DEVICE-GUN)": ("SCHEDULE-DEVICE-GUN", lambda i: gun_status("S", START + 15 * (i // 400), i % 4)),
        "per_second (CAR-ORDER)": ("SCHEDULE-CAR-ORDER", lambda i: car_order("S", START + i // 100)),
        "per_device (STORAGE)": ("SCHEDULE-DEVICE-STORAGE", lambda i: storage("S", START + 15 * (i // 200), i % 2)),
        "latest (PV)": ("SCHEDULE-DEVICE-PV", lambda i: {"stationId": "S", "pvId": f"PV{i % 2}", "pvPreDcPower": 1.0}),
    }
    for name, (topic, make) in cases.items():
        batched, single = updates_per_second(topic, make, n, 500)
        print(f"  {name:26s} {batched:>10,.0f}/s | {single:>9,.0f}/s")


if __name__ == "__main__":
    main()
