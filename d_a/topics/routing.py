"""Station routing: which station a record belongs to.

`stationId`, then `station_id`; failing both, a `host_id`/`hostId`/`hostCode` or
`meter_id`/`meterId` that SCHEDULE-STATION-PARAM has mapped to a station. The map is learned from
station parameter records (their `hostCode`, `meterId` and `hostId` values; a station with several
hosts lists them all).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from .bad_input import BadInput

__all__ = ["DEVICE_ID_KEYS", "STATION_ID_KEYS", "StationRouter"]

STATION_ID_KEYS = ("stationId", "station_id")
DEVICE_ID_KEYS = ("host_id", "hostId", "hostCode", "meter_id", "meterId")
_PARAM_DEVICE_KEYS = ("hostCode", "hostId", "host_id", "meterId", "meter_id")


class StationRouter:
    """Finds a record's station; knows the stations and devices the parameter topic announced."""

    def __init__(self) -> None:
        self._device_station: dict[str, str] = {}
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def learn(self, station_id: str, params: Mapping[str, Any]) -> None:
        """Remember a station and map its host and meter ids to it."""
        with self._lock:
            self._known.add(station_id)
            for key in _PARAM_DEVICE_KEYS:
                for device in _ids(params.get(key)):
                    self._device_station[device] = station_id

    @property
    def known_stations(self) -> frozenset[str]:
        """Stations announced by SCHEDULE-STATION-PARAM so far."""
        with self._lock:
            return frozenset(self._known)

    def station_of(self, item: Mapping[str, Any]) -> str:
        """The station id of a raw record; BadInput(missing_id / unknown_station) otherwise."""
        for key in STATION_ID_KEYS:
            value = item.get(key)
            if value is None or value == "":
                continue
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                return str(value)
            raise BadInput("wrong_type", f"{key}={value!r} is not a station id")
        for key in DEVICE_ID_KEYS:
            value = item.get(key)
            if value is not None and value != "":
                station = self._device_station.get(str(value))
                if station is None:
                    raise BadInput("unknown_station", f"{key}={value!r} maps to no station in SCHEDULE-STATION-PARAM")
                return station
        raise BadInput("missing_id", "no stationId, station_id, host_id/hostId/hostCode or meter_id/meterId")


def _ids(value: Any) -> list[str]:
    """Device ids from a parameter value: one id, a list of ids, or a comma-separated string."""
    if value is None or value == "" or isinstance(value, bool):
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and v != ""]
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(value)]
