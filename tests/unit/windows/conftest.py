"""Realistic wire payloads for window tests, and a type-strict equality check."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pytest

T0 = 1_700_000_000.0  # record times start here (epoch seconds, a whole hour)


def send_time(ts: float) -> str:
    """The wire form of a record time: local "YYYY-MM-DD HH:MM:SS"."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


@pytest.fixture(scope="session")
def t0() -> float:
    return T0


@pytest.fixture(scope="session")
def car_order() -> Callable[..., dict]:
    """SCHEDULE-CAR-ORDER: one charging gun in one second."""

    def build(ts: float, gun: int = 1, **changes: object) -> dict:
        record = {
            "stationId": "ST-0001",
            "transactionSerialNo": f"TX-{gun}-{int(ts) // 3600}",
            "hostCode": "H-01",
            "gunNo": gun,
            "terminalMaxOutElectric": 250.0,
            "startChargeTime": send_time(ts - ts % 3600),
            "endChargeTime": "",
            "beginSOC": 20,
            "soc": round(20 + (ts % 3600) / 60, 2),
            "terminalRequireVoltage": 400.5,
            "terminalRequireElectric": 100.2,
            "outputPower": 60.0 + gun,
            "carProducerCode": "BYD",
            "batteryNominalTotalCapacity": 75,
            "sendTime": send_time(ts),
        }
        record.update(changes)
        return record

    return build


@pytest.fixture(scope="session")
def meter() -> Callable[..., dict]:
    """SCHEDULE-DEVICE-METER: grid import every 5 minutes."""

    def build(ts: float, power: float = 120.5, **changes: object) -> dict:
        record = {
            "stationId": "ST-0001",
            "meterId": "M-01",
            "meterPower": power,
            "rmeterLimitPower": 630.0,
            "sendTime": send_time(ts),
        }
        record.update(changes)
        return record

    return build


@pytest.fixture(scope="session")
def storage() -> Callable[..., dict]:
    """SCHEDULE-DEVICE-STORAGE: one storage unit every 15 seconds."""

    def build(ts: float, storage_id: str = "BAT-1", power: float = -35.2, **changes: object) -> dict:
        record = {
            "stationId": "ST-0001",
            "hostId": "H-01",
            "storageId": storage_id,
            "storagePower": power,
            "storageCurrent": round(power * 1000 / 768, 1),
            "storageTempMax": 31.4,
            "storageTempMin": 27.9,
            "storageSOC": 64.5,
            "storageSOH": 98,
            "sendTime": send_time(ts),
        }
        record.update(changes)
        return record

    return build


@pytest.fixture(scope="session")
def strictly_equal() -> Callable[[object, object], bool]:
    """Equality that also requires equal types all the way down (1 != 1.0 != True), NaN equal to NaN."""

    def same(a: object, b: object) -> bool:
        if type(a) is not type(b):
            return False
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, (list, tuple)):
            return len(a) == len(b) and all(map(same, a, b))
        if isinstance(a, float) and math.isnan(a):
            return math.isnan(b)
        return a == b

    return same
