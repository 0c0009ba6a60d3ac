"""Benchmark of the windows layer: update rates per kind, column reads, memory per station.

    python benchmarks/bench_windows.py [--quick]

Prints (never asserts) record updates/s per window kind (add_many in batches of 500 and of
10, and single add), column() times on full appendix-B windows, and resident memory per
station with every appendix-B window full (RSS delta of building N stations, divided by N).
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from d_a.config import load_config
from d_a.windows import WINDOW_KINDS, WindowSpec, make_window
from d_a.windows.window import Window

T0 = 1_700_000_000  # a whole hour, UTC
GUNS = 8
STORAGE_UNITS = 2
CAR_ORDER_FIELDS = tuple(load_config().topics["SCHEDULE-CAR-ORDER"].fields)
STORAGE_FIELDS = (
    "hostId",
    "storageId",
    "storagePower",
    "storageCurrent",
    "storageTempMax",
    "storageTempMin",
    "storageSOC",
    "storageSOH",
)


def send_times(times: np.ndarray) -> list[str]:
    """ "YYYY-MM-DD HH:MM:SS" of epoch seconds (vectorised; UTC is fine here)."""
    stamps = np.datetime_as_string(times.astype("datetime64[s]"))
    return [stamp.replace("T", " ") for stamp in stamps.tolist()]


def car_orders(first: int, count: int) -> tuple[list[dict], np.ndarray]:
    """SCHEDULE-CAR-ORDER records first..first+count-1: one a second, a new charging session every 20 min."""
    times = T0 + np.arange(first, first + count)
    sessions = (times - T0) // 1200
    distinct = np.unique(sessions)
    starts = dict(zip(distinct.tolist(), send_times(T0 + 1200 * distinct), strict=True))
    records = [
        {
            "stationId": "ST-0001",
            "transactionSerialNo": f"TX{session:010d}",
            "hostCode": "H-01",
            "gunNo": 1 + session % GUNS,
            "terminalMaxOutElectric": 250.0,
            "startChargeTime": starts[session],
            "endChargeTime": "",
            "beginSOC": 20,
            "soc": round(20 + (second % 1200) / 20, 2),
            "terminalRequireVoltage": 400.5,
            "terminalRequireElectric": round(100 + second % 7 * 0.5, 1),
            "outputPower": round(40 + second % 13 * 1.5, 2),
            "carProducerCode": "BYD",
            "batteryNominalTotalCapacity": 75,
            "sendTime": stamp,
        }
        for second, session, stamp in zip(times.tolist(), sessions.tolist(), send_times(times), strict=True)
    ]
    return records, times.astype(np.float64)


def gun_statuses(first: int, count: int) -> tuple[list[dict], np.ndarray]:
    """SCHEDULE-DEVICE-GUN records first..first+count-1: every gun every 15 seconds."""
    index = np.arange(first, first + count)
    times = T0 + 15 * (index // GUNS)
    records = [
        {"stationId": "ST-0001", "hostCode": "H-01", "gunNo": 1 + i % GUNS, "status": i // GUNS % 3, "sendTime": stamp}
        for i, stamp in zip(index.tolist(), send_times(times), strict=True)
    ]
    return records, times.astype(np.float64)


def storage_records(first: int, count: int) -> tuple[list[dict], np.ndarray]:
    """SCHEDULE-DEVICE-STORAGE records first..first+count-1: every storage unit every 15 seconds."""
    index = np.arange(first, first + count)
    times = T0 + 15 * (index // STORAGE_UNITS)
    records = [
        {
            "stationId": "ST-0001",
            "hostId": "H-01",
            "storageId": f"BAT-{1 + i % STORAGE_UNITS}",
            "storagePower": round(-30 + i % 60, 2),
            "storageCurrent": round(-39 + i % 60 * 1.3, 1),
            "storageTempMax": 31.4,
            "storageTempMin": 27.9,
            "storageSOC": round(50 + i % 40 / 2, 2),
            "storageSOH": 98,
            "sendTime": stamp,
        }
        for i, stamp in zip(index.tolist(), send_times(times), strict=True)
    ]
    return records, times.astype(np.float64)


def meter_records(first: int, count: int) -> tuple[list[dict], np.ndarray]:
    """SCHEDULE-DEVICE-METER records first..first+count-1: every 5 minutes."""
    index = np.arange(first, first + count)
    times = T0 + 300 * index
    records = [
        {
            "stationId": "ST-0001",
            "meterId": "M-01",
            "meterPower": round(100 + i % 50 * 2.5, 2),
            "rmeterLimitPower": 630.0,
            "sendTime": stamp,
        }
        for i, stamp in zip(index.tolist(), send_times(times), strict=True)
    ]
    return records, times.astype(np.float64)


def realtime_rows(first: int, count: int) -> tuple[list[dict], np.ndarray]:
    """SCHEDULE-STATION-REALTIME-DATA rows first..first+count-1: hourly, with per-gun power lists."""
    times = T0 + 3600 * np.arange(first, first + count)
    records = [
        {
            "stationId": "ST-0001",
            "hostCode": "H-01",
            "sendTime": stamp,
            "gunPower": {
                "gunNo": list(range(1, GUNS + 1)),
                "outputPowerPerGunAvg": [20.5] * GUNS,
                "outputPowerPerGunMax": [60.0] * GUNS,
            },
            "outputPowerPerStationAvg": 164.0,
            "outputPowerPerStationMax": 480.0,
        }
        for stamp in send_times(times)
    ]
    return records, times.astype(np.float64)


def station_params(first: int, count: int) -> tuple[list[dict], np.ndarray]:
    """SCHEDULE-STATION-PARAM records (one a second; the content does not change)."""
    records = [
        {
            "stationId": "ST-0001",
            "stationLng": 121.47,
            "stationLat": 31.23,
            "gunNum": GUNS,
            "gridCapacity": 630,
            "meterId": "M-01",
            "powerNum": 12,
            "normalClap": 600,
            "hostCode": "H-01",
        }
        for _ in range(count)
    ]
    return records, (T0 + np.arange(first, first + count)).astype(np.float64)


Feed = Callable[[int, int], tuple[list[dict], np.ndarray]]

# Appendix-B windows of one station: (topic, spec, feed, records that fill the window).
APPENDIX_B: list[tuple[str, WindowSpec, Feed, int]] = [
    ("SCHEDULE-STATION-PARAM", WindowSpec("latest", 1), station_params, 1),
    ("SCHEDULE-STATION-REALTIME-DATA", WindowSpec("replace", 168, interval_seconds=3600), realtime_rows, 168),
    (
        "SCHEDULE-DEVICE-METER",
        WindowSpec("append", 2016, ("meterId", "meterPower", "rmeterLimitPower"), interval_seconds=300),
        meter_records,
        2016,
    ),
    (
        "SCHEDULE-DEVICE-GUN",
        WindowSpec("append", 40_320, ("hostCode", "gunNo", "status"), interval_seconds=15),
        gun_statuses,
        40_320,
    ),
    (
        "SCHEDULE-CAR-ORDER",
        WindowSpec("per_second", 604_800, CAR_ORDER_FIELDS, interval_seconds=1),
        car_orders,
        604_800,
    ),
    (
        "SCHEDULE-DEVICE-STORAGE",
        WindowSpec("per_device", 40_320, STORAGE_FIELDS, interval_seconds=15, device_key="storageId"),
        storage_records,
        40_320,
    ),
]
FILL_CHUNK = 20_000  # records generated at a time while filling (so the feed itself holds little memory)


def fill(window: Window, feed: Feed, total: int) -> None:
    """Feed `total` records to `window` in poll batches of 500."""
    for first in range(0, total, FILL_CHUNK):
        records, times = feed(first, min(FILL_CHUNK, total - first))
        for lo in range(0, len(records), 500):
            window.add_many(records[lo : lo + 500], times[lo : lo + 500], now=0.0)


def rate(window: Window, records: list[dict], times: np.ndarray, batch: int) -> float:
    """Record updates per second of feeding `records` to `window` in batches of `batch` (1: add)."""
    started = time.perf_counter()
    if batch == 1:
        for record, ts in zip(records, times.tolist(), strict=True):
            window.add(record, ts, now=0.0)
    else:
        for lo in range(0, len(records), batch):
            window.add_many(records[lo : lo + batch], times[lo : lo + batch], now=0.0)
    return len(records) / (time.perf_counter() - started)


def bench_updates(quick: bool) -> None:
    count = 50_000 if quick else 200_000
    print(f"record updates/s ({count:,} records; single add on {count // 10:,})")
    print(f"  {'kind':<11} {'topic':<32} {'add_many 500':>13} {'add_many 10':>12} {'add':>9}")
    for topic, spec, feed, _ in sorted(APPENDIX_B, key=lambda entry: WINDOW_KINDS.index(entry[1].kind)):
        records, times = feed(0, count)
        rates = [
            rate(make_window(spec), records, times, 500),
            rate(make_window(spec), records, times, 10),
            rate(make_window(spec), records[: count // 10], times[: count // 10], 1),
        ]
        print(f"  {spec.kind:<11} {topic:<32} {rates[0]:>13,.0f} {rates[1]:>12,.0f} {rates[2]:>9,.0f}")
    print("  (latest and replace windows keep only the newest 1 / 168 records of a batch, hence their rates)")
    window = make_window(APPENDIX_B[1][1])
    rows, times = realtime_rows(0, 168)
    started, repeats = time.perf_counter(), 200 if quick else 1000
    for i in range(repeats):
        window.replace(rows, times + 3600 * (i % 2), now=0.0)
    per_second = repeats / (time.perf_counter() - started)
    print(f"  replace(): {per_second:,.0f} REALTIME-DATA messages/s (168 rows each)")


def timed(call: Callable[[], object], repeats: int = 5) -> float:
    """Best wall time of `call` in milliseconds."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best * 1e3


def bench_columns(station: dict[str, Window]) -> None:
    print("column() on full appendix-B windows (best of 5, ms)")
    print(f"  {'topic / field':<52} {'list':>8} {'numpy':>8} {'numpy+forward':>14}")
    reads = [
        ("SCHEDULE-CAR-ORDER", "outputPower"),
        ("SCHEDULE-CAR-ORDER", "gunNo"),
        ("SCHEDULE-CAR-ORDER", "transactionSerialNo"),
        ("SCHEDULE-CAR-ORDER", "sendTime"),
        ("SCHEDULE-DEVICE-GUN", "status"),
        ("SCHEDULE-DEVICE-STORAGE", "storageSOC"),
        ("SCHEDULE-DEVICE-METER", "meterPower"),
    ]
    for topic, field in reads:
        window = station[topic]
        times = [
            timed(partial(window.column, field)),
            timed(partial(window.column, field, fmt="numpy")),
            timed(partial(window.column, field, padding="forward", fmt="numpy")),
        ]
        label = f"{topic} / {field} ({len(window):,})"
        print(f"  {label:<52} {times[0]:>8.2f} {times[1]:>8.2f} {times[2]:>14.2f}")
    orders = station["SCHEDULE-CAR-ORDER"]
    print(f"  records() of the car-order window: {timed(orders.records, repeats=1):,.0f} ms")


def resident_bytes() -> int:
    """Resident set size of this process."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def build_station() -> dict[str, Window]:
    """One station's appendix-B windows, each filled to its size."""
    station = {}
    for topic, spec, feed, total in APPENDIX_B:
        station[topic] = window = make_window(spec)
        fill(window, feed, total)
    return station


def bench_memory(count: int) -> dict[str, Window]:
    print(f"memory per station, all appendix-B windows full ({count} station(s))")
    gc.collect()
    resident = [resident_bytes()]
    started = time.perf_counter()
    stations = []
    for _ in range(count):
        stations.append(build_station())
        gc.collect()
        resident.append(resident_bytes())
    grown = resident[-1] - resident[0]
    print(
        f"  built in {time.perf_counter() - started:.1f} s; RSS delta {grown / 2**20:,.1f} MiB, "
        f"{grown / count / 2**20:,.1f} MiB per station"
    )
    if count > 1:
        print(f"  the last station alone added {(resident[-1] - resident[-2]) / 2**20:,.1f} MiB")
    for topic, window in stations[0].items():
        print(f"  {topic:<32} {len(window):>8,} records  {window.nbytes / 2**20:>7.1f} MiB in buffers")
    return stations[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer records and one station (< 20 s)")
    args = parser.parse_args()
    station = bench_memory(1 if args.quick else 3)
    print()
    bench_columns(station)
    print()
    bench_updates(args.quick)


if __name__ == "__main__":
    main()
