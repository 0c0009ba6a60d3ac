"""The field workload in the seeds' wire formats: module `electricity_price` (ten topics) with a
week of hourly context per station, then car orders and meter reports.

`context(n)` gives every station one message on each of the module's slow topics: parameters,
168 hours of REALTIME-DATA, the calendar, car prices, storage, and the outputs of its three
dependencies (pv_prediction, evaluation_model, SOH_model) in the original's `results` batch form.
`order(i, seq)` and `meter(i, seq)` are one record each and carry `benchTs`, the time they were made,
for the age of a car order at its first callback. Values are JSON bytes; messages are unkeyed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import orjson

MODULE = "electricity_price"
ORDER = "SCHEDULE-CAR-ORDER"
METER = "SCHEDULE-DEVICE-METER"
LIVE_TOPICS = (ORDER, METER)
HOURS = 168
REALTIME_STATIONS_PER_MESSAGE = 10
STATIONS_PER_LIST = 200
DEPENDENCIES = {
    "MODULE-OUTPUT-PV_PREDICTION": "pv_prediction",
    "MODULE-OUTPUT-EVALUATION_MODEL": "evaluation_model",
    "MODULE-OUTPUT-SOH_MODEL": "SOH_model",
}

Message = tuple[str, bytes]  # topic, value


def station(i: int) -> str:
    return f"ST{i:06d}"


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def order(i: int, seq: int, now: float | None = None) -> bytes:
    now = time.time() if now is None else now
    gun = f"{seq % 8 + 1:02d}"
    return orjson.dumps(
        {
            "stationId": station(i),
            "transactionSerialNo": f"TX{i}-{gun}-{seq // 64}",
            "hostCode": f"H{i:06d}",
            "gunNo": gun,
            "terminalMaxOutElectric": 250.0,
            "startChargeTime": "2025-11-12 08:47:26",
            "endChargeTime": "2070-01-02 08:00:01",
            "beginSOC": 20.0,
            "soc": 20.0 + (seq % 80),
            "terminalRequireVoltage": 750.0,
            "terminalRequireElectric": 200.0,
            "outputPower": 150.0 + (seq % 100),
            "carProducerCode": "0000000000000000",
            "batteryNominalTotalCapacity": 80.0,
            "sendTime": _time(datetime.fromtimestamp(now)),
            "benchTs": now,
        }
    )


def meter(i: int, seq: int, now: float | None = None) -> bytes:
    now = time.time() if now is None else now
    return orjson.dumps(
        {
            "stationId": station(i),
            "meterId": f"M{i:06d}",
            "meterPower": 300.0 + seq % 50,
            "rmeterLimitPower": 1000.0,
            "sendTime": _time(datetime.fromtimestamp(now)),
            "benchTs": now,
        }
    )


def live(k: int, stations: int, now: float | None = None) -> Message:
    """The k-th message of the feed: car orders and meters alternate, the stations in turn."""
    i = (k // 2) % stations
    return (ORDER, order(i, k, now)) if k % 2 == 0 else (METER, meter(i, k, now))


def backlog(stations: int, messages: int) -> Iterator[Message]:
    for k in range(messages):
        yield live(k, stations)


def _chunks(stations: int, size: int) -> Iterator[range]:
    for first in range(0, stations, size):
        yield range(first, min(first + size, stations))


def context(stations: int) -> list[Message]:
    """One message per station and slow topic (lists of up to 200 stations where the topic has them)."""
    out: list[Message] = []
    for chunk in _chunks(stations, STATIONS_PER_LIST):
        params = [
            {
                "stationId": station(i),
                "stationLng": 114.0,
                "stationLat": 22.5,
                "gunNum": 8,
                "gridCapacity": 1000.0,
                "meterId": f"M{i:06d}",
                "powerNum": 4,
                "normalClap": 800.0,
                "hostCode": [f"H{i:06d}"],
            }
            for i in chunk
        ]
        out.append(("SCHEDULE-STATION-PARAM", orjson.dumps(params)))
    calendar = {"calendar": [{"date": "2025-11-12", "dayOfWeek": 3, "holiday": 0}]}
    out.append(("SCHEDULE-ENVIRONMENT-CALENDAR", orjson.dumps(calendar)))
    base = datetime(2025, 11, 5)
    hours = [_time(base + timedelta(hours=h)) for h in range(HOURS)]
    for chunk in _chunks(stations, REALTIME_STATIONS_PER_MESSAGE):
        rows = [
            {
                "stationId": station(i),
                "hostCode": f"H{i:06d}",
                "sendTime": hour,
                "gunPower": {
                    "gunNo": ["01", "02", "03", "04"],
                    "outputPowerPerGunAvg": [30.1, 2.7, 88.4, 10.0],
                    "outputPowerPerGunMax": [100.8, 7.0, 135.2, 40.0],
                },
                "outputPowerPerStationAvg": 131.2,
                "outputPowerPerStationMax": 283.0,
            }
            for i in chunk
            for hour in hours
        ]
        out.append(("SCHEDULE-STATION-REALTIME-DATA", orjson.dumps({"realTimeData": rows})))
    for chunk in _chunks(stations, STATIONS_PER_LIST):
        fees = [
            {
                "stationId": station(i),
                "FeeNo": "F1",
                "startTime": "00:00",
                "endTime": "23:59",
                "ebbElectricFee": 0.3,
                "ebbServerFee": 0.4,
                "flatElectricFee": 0.6,
                "flatServerFee": 0.4,
                "peakElectricFee": 0.9,
                "peakServerFee": 0.4,
                "sharpElectricFee": 1.1,
                "sharpServerFee": 0.4,
                "otherElectricFee": 0.0,
                "otherServerFee": 0.0,
                "sendTime": "2025-11-01 00:00:00",
            }
            for i in chunk
        ]
        out.append(("SCHEDULE-CAR-PRICE", orjson.dumps({"fee": fees})))
    for i in range(stations):
        storage = {
            "stationId": station(i),
            "hostCode": f"H{i:06d}",
            "storageCode": f"S{i:06d}",
            "batteryGroupSoc": 50,
            "batteryGroupSoh": 98,
            "batteryGroupOutPower": 4,
            "sendTime": "2025-11-12 08:00:00",
        }
        out.append(("SCHEDULE-DEVICE-STORAGE", orjson.dumps(storage)))
    for topic, module in DEPENDENCIES.items():
        for chunk in _chunks(stations, STATIONS_PER_LIST):
            batch = {
                "batch_id": "b0",
                "module": module,
                "timestamp": time.time(),
                "stations_count": len(chunk),
                "results": [{"station_id": station(i), "value": 1.0} for i in chunk],
            }
            out.append((topic, orjson.dumps(batch)))
    return out
