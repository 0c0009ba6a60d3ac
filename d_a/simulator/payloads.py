"""Per-topic message builders: the wire format of every input topic.

Record builders return one JSON-ready dict; snapshot builders return whole drafts
(station_id, key, payload, raw bytes) because they pack many stations per message.
Field names and their order are those the producers in the field send.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from .charging import Session
from .clock import Tick
from .environment import GRID_PRICE, TARIFF_PERIODS, calendar_rows, season, storage_soc
from .message import Draft
from .stations import (
    MODULE_FAULT,
    MODULE_KW,
    MODULE_STANDBY,
    MODULE_WORKING,
    STORAGE_VOLTAGE,
    Gun,
    PvUnit,
    Station,
    Storage,
)
from .world import World

PARAM_CHUNK = 1000  # stations per SCHEDULE-STATION-PARAM message
METER_LIMIT_SHARE = 0.95  # rmeterLimitPower as a share of the transformer's kVA
DAY = timedelta(days=1)


def meter_record(world: World, station: Station, tick: Tick, rng: random.Random) -> dict:
    """SCHEDULE-DEVICE-METER: grid import (kW) and the meter's limit."""
    return {
        "stationId": station.station_id,
        "meterId": station.meter_id,
        "meterPower": round(world.meter_power(station, tick), 2),
        "rmeterLimitPower": round(station.grid_capacity * METER_LIMIT_SHARE, 2),
        "sendTime": tick.send_time,
    }


def gun_record(world: World, gun: Gun, tick: Tick, rng: random.Random) -> dict:
    """SCHEDULE-DEVICE-GUN: status 0 idle, 1 charging, 2 fault."""
    station = gun.station
    return {
        "stationId": station.station_id,
        "hostCode": station.host_code,
        "gunNo": gun.no,
        "status": gun.status,
        "sendTime": tick.send_time,
    }


def dcdc_record(world: World, station: Station, tick: Tick, rng: random.Random) -> dict:
    """SCHEDULE-DEVICE-HOST-DCDC: per DC module status (0 standby, 1 working, 2 fault) and power (kW).

    The host's DC output is shared evenly by as few healthy modules as can carry it.
    """
    count, faulty = station.power_num, station.faulty_module
    status, power = [MODULE_STANDBY] * count, [0.0] * count
    if faulty >= 0:
        status[faulty] = MODULE_FAULT
    healthy = [k for k in range(count) if k != faulty]
    output = station.dc_power()
    working = min(len(healthy), math.ceil(output / MODULE_KW))
    for k in healthy[:working]:
        status[k], power[k] = MODULE_WORKING, round(output / working, 2)
    return {
        "stationId": station.station_id,
        "hostCode": station.host_code,
        "dcWorkStatus": status,
        "dcdcPower": power,
        "sendTime": tick.send_time,
    }


def acdc_record(world: World, station: Station, tick: Tick, rng: random.Random) -> dict:
    """SCHEDULE-DEVICE-HOST-ACDC: AC input of the host (kW)."""
    return {
        "stationId": station.station_id,
        "hostCode": station.host_code,
        "acPower": round(station.ac_power(), 2),
        "sendTime": tick.send_time,
    }


def storage_record(world: World, storage: Storage, tick: Tick, rng: random.Random) -> dict:
    """SCHEDULE-DEVICE-STORAGE: power kW (> 0 discharging), current A, temperatures °C, SOC and SOH in %."""
    station = storage.station
    power = world.storage_power(storage, tick) * (1.0 + 0.01 * (rng.random() - 0.5))
    load = abs(power) / (storage.capacity_kwh * 0.15)
    temp_max = 24.0 + 8.0 * load + rng.random()
    return {
        "stationId": station.station_id,
        "hostId": station.host_code,
        "storageId": storage.storage_id,
        "storagePower": round(power, 2),
        "storageCurrent": round(power * 1000.0 / STORAGE_VOLTAGE, 1),
        "storageTempMax": round(temp_max, 1),
        "storageTempMin": round(temp_max - 3.0 - 2.0 * rng.random(), 1),
        "storageSOC": round(storage_soc(tick.second_of_day), 2),
        "storageSOH": storage.soh,
        "sendTime": tick.send_time,
    }


def pv_record(world: World, pv: PvUnit, tick: Tick, rng: random.Random) -> dict:
    """SCHEDULE-DEVICE-PV: predicted DC power (kW), zero at night. No sendTime in this topic."""
    return {"stationId": pv.station.station_id, "pvId": pv.pv_id, "pvPreDcPower": round(world.pv_power(pv, tick), 2)}


def car_order_record(session: Session, tick: Tick) -> dict:
    """SCHEDULE-CAR-ORDER: one charging gun in one second; endChargeTime is "" until the last second."""
    gun = session.gun
    station = gun.station
    return {
        "stationId": station.station_id,
        "transactionSerialNo": session.serial,
        "hostCode": station.host_code,
        "gunNo": gun.no,
        "terminalMaxOutElectric": gun.max_current,
        "startChargeTime": session.start_time,
        "endChargeTime": session.end_time,
        "beginSOC": session.begin_soc,
        "soc": round(session.soc, 2),
        "terminalRequireVoltage": round(session.voltage, 1),
        "terminalRequireElectric": round(session.current, 1),
        "outputPower": round(session.power, 2),
        "carProducerCode": session.producer,
        "batteryNominalTotalCapacity": session.capacity,
        "sendTime": tick.send_time,
    }


def error_record(world: World, station: Station, tick: Tick) -> dict:
    """SCHEDULE-DEVICE-ERROR: the station's current error codes (0 = no error)."""
    return {"stationId": station.station_id, **world.incidents.codes(station), "sendTime": tick.send_time}


def param_drafts(world: World, tick: Tick) -> list[Draft]:
    """SCHEDULE-STATION-PARAM: a JSON array of station parameters, PARAM_CHUNK stations per message."""
    return _chunked(world.stations, PARAM_CHUNK, lambda group: [station.param() for station in group])


def calendar_drafts(world: World, tick: Tick) -> list[Draft]:
    """SCHEDULE-ENVIRONMENT-CALENDAR: the current year, one global message."""
    return [(None, None, {"calendar": calendar_rows(tick.day.year)}, None)]


def price_drafts(world: World, tick: Tick) -> list[Draft]:
    """SCHEDULE-CAR-PRICE: one message per station with its time-of-use periods covering 24 h.

    periodType: 1 peak, 2 flat, 3 valley; times "HH:MM:SS", the last period ends "24:00:00".
    """
    return [(station.station_id, station.key, {"fee": _fee_rows(station)}, None) for station in world.stations]


def weather_drafts(world: World, tick: Tick, chunk: int) -> list[Draft]:
    """SCHEDULE-ENVIRONMENT-WEATHER: yesterday's weather and tomorrow's forecast, `chunk` stations a message.

    Weather codes: 0 sunny, 1 cloudy, 2 overcast, 3 rain, 4 snow; season: 1 spring .. 4 winter.
    """
    yesterday, tomorrow = tick.day - DAY, tick.day + DAY

    def payload(group: Sequence[Station]) -> dict:
        return {
            "weather": [
                {
                    "stationId": station.station_id,
                    "weatherSituationYesterday": world.weather(station, yesterday),
                    "seasonTomorrow": season(tomorrow),
                    "weatherSituationTomorrow": world.weather(station, tomorrow),
                }
                for station in group
            ]
        }

    return _chunked(world.stations, chunk, payload)


def realtime_drafts(world: World, tick: Tick, chunk: int) -> list[Draft]:
    """SCHEDULE-STATION-REALTIME-DATA: every station's hourly history, `chunk` stations per message.

    Nothing is sent when the simulator keeps no history (history_hours=0).
    """
    if not world.stations[0].history.maxlen:
        return []

    def raw(group: Sequence[Station]) -> bytes:
        return b'{"realTimeData":[' + b",".join(row for station in group for row in station.history) + b"]}"

    return _chunked(world.stations, chunk, raw, encoded=True)


def _fee_rows(station: Station) -> list[dict]:
    return [
        {
            "stationId": station.station_id,
            "FeeNo": number,
            "startTime": f"{start:02d}:00:00",
            "endTime": f"{end:02d}:00:00",
            "periodType": period,
            "gridPrice": round(GRID_PRICE[period] * station.price_factor, 4),
            "serviceFee": station.service_fee,
        }
        for number, (start, end, period) in enumerate(TARIFF_PERIODS, 1)
    ]


def _chunked(
    stations: list[Station], size: int, build: Callable[[Sequence[Station]], Any], encoded: bool = False
) -> list[Draft]:
    """Split stations into messages of `size` (`build` returns bytes when `encoded`).

    A message holding a single station carries its id and key; others carry None.
    """
    drafts: list[Draft] = []
    for offset in range(0, len(stations), size):
        group = stations[offset : offset + size]
        sid, key = (group[0].station_id, group[0].key) if len(group) == 1 else (None, None)
        body = build(group)
        drafts.append((sid, key, None, body) if encoded else (sid, key, body, None))
    return drafts
