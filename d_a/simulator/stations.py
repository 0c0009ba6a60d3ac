"""The simulated fleet: stations with one host, a meter, guns, storage and PV units.

A station's layout (how many guns, storage and PV units) depends only on its index, so
`rates()` can count devices without building a fleet; everything else (location, gun
power class, prices, battery health) is drawn from the seed.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field

GUN_IDLE, GUN_CHARGING, GUN_FAULT = 0, 1, 2  # SCHEDULE-DEVICE-GUN status codes
MODULE_STANDBY, MODULE_WORKING, MODULE_FAULT = 0, 1, 2  # dcWorkStatus codes

MODULE_KW = 40.0  # rated power of one DC power module (powerNum counts them)
AC_EFFICIENCY = 0.96  # AC/DC rectifier efficiency of a host
HOST_AUX_KW = 1.5  # cooling and control load of a host
STORAGE_VOLTAGE = 768.0
_GUN_CLASSES = ((60.0, 150.0), (120.0, 250.0), (160.0, 300.0))  # (max kW, max A)
_TRANSFORMERS_KVA = (315, 400, 500, 630, 800, 1000, 1250, 1600, 2000, 2500)
_GUN_CYCLE = (4, 6, 8, 10, 12)
_STORAGE_CYCLE = (0, 1, 0, 2)
_PV_CYCLE = (1, 0, 2)
_CENTER = (114.06, 22.55)  # stations are spread around Shenzhen


@dataclass(frozen=True)
class Layout:
    """How many devices of each kind a station has."""

    guns: int
    storages: int
    pvs: int


def layout(index: int) -> Layout:
    """Device counts of the station with 1-based `index` (cycles, so fleets mix all kinds)."""
    i = index - 1
    return Layout(
        _GUN_CYCLE[i % len(_GUN_CYCLE)], _STORAGE_CYCLE[i % len(_STORAGE_CYCLE)], _PV_CYCLE[i % len(_PV_CYCLE)]
    )


@dataclass(eq=False, slots=True)
class Gun:
    """A charging gun: its limits, its state and this hour's power accumulators."""

    station: Station
    no: int
    max_power: float
    max_current: float
    status: int = GUN_IDLE
    power: float = 0.0
    hour_energy: float = 0.0  # sum of per-second outputPower this hour (kW*s)
    hour_max: float = 0.0


@dataclass(eq=False, slots=True)
class Storage:
    """A battery storage cabinet attached to the station's host."""

    station: Station
    storage_id: str
    capacity_kwh: float
    soh: float


@dataclass(eq=False, slots=True)
class PvUnit:
    """A rooftop PV inverter."""

    station: Station
    pv_id: str
    capacity_kw: float


@dataclass(eq=False, slots=True)
class Station:
    """One station: ids, ratings, devices and the rolling hourly history (encoded rows)."""

    station_id: str
    key: bytes
    lng: float
    lat: float
    host_code: str
    meter_id: str
    grid_capacity: int
    power_num: int
    normal_clap: float
    service_fee: float
    price_factor: float
    guns: list[Gun] = field(default_factory=list)
    storages: list[Storage] = field(default_factory=list)
    pvs: list[PvUnit] = field(default_factory=list)
    history: deque = field(default_factory=deque)
    faulty_module: int = -1  # index of a DC module in fault, -1 if none

    def dc_power(self) -> float:
        """Total DC output of the host now (sum over guns), kW."""
        return sum(gun.power for gun in self.guns)

    def ac_power(self) -> float:
        """AC input of the host now, kW."""
        return self.dc_power() / AC_EFFICIENCY + HOST_AUX_KW

    def param(self) -> dict:
        """The SCHEDULE-STATION-PARAM record of this station."""
        return {
            "stationId": self.station_id,
            "stationLng": self.lng,
            "stationLat": self.lat,
            "gunNum": len(self.guns),
            "gridCapacity": self.grid_capacity,
            "meterId": self.meter_id,
            "powerNum": self.power_num,
            "normalClap": self.normal_clap,
            "hostCode": self.host_code,
        }


def station_id(index: int) -> str:
    """The station id of a 1-based index, e.g. ST0001."""
    return f"ST{index:04d}"


def build_fleet(count: int, seed: int, history_hours: int) -> list[Station]:
    """Build `count` stations; their history deques keep `history_hours` rows."""
    rng = random.Random(f"{seed}:fleet")
    return [_build_station(index, rng, history_hours) for index in range(1, count + 1)]


def _build_station(index: int, rng: random.Random, history_hours: int) -> Station:
    shape = layout(index)
    gun_kw, gun_amps = rng.choice(_GUN_CLASSES)
    power_num = math.ceil(shape.guns * gun_kw / MODULE_KW)
    normal_clap = power_num * MODULE_KW
    grid_need = normal_clap * 0.9 + shape.storages * 100
    grid_capacity = next((kva for kva in _TRANSFORMERS_KVA if kva >= grid_need), _TRANSFORMERS_KVA[-1])
    sid = station_id(index)
    station = Station(
        station_id=sid,
        key=sid.encode(),
        lng=round(_CENTER[0] + rng.uniform(-0.35, 0.35), 6),
        lat=round(_CENTER[1] + rng.uniform(-0.2, 0.2), 6),
        host_code=f"H{index:04d}",
        meter_id=f"M{index:04d}",
        grid_capacity=grid_capacity,
        power_num=power_num,
        normal_clap=normal_clap,
        service_fee=round(rng.uniform(0.4, 0.8), 2),
        price_factor=rng.uniform(0.95, 1.05),
        history=deque(maxlen=history_hours),
    )
    station.guns = [Gun(station, no, gun_kw, gun_amps) for no in range(1, shape.guns + 1)]
    station.storages = [
        Storage(station, f"S{index:04d}-{k}", rng.choice((215.0, 430.0)), round(rng.uniform(92.0, 99.5), 1))
        for k in range(1, shape.storages + 1)
    ]
    station.pvs = [
        PvUnit(station, f"PV{index:04d}-{k}", rng.choice((50.0, 100.0, 150.0))) for k in range(1, shape.pvs + 1)
    ]
    return station
