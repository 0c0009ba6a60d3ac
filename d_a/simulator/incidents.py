"""Rare device incidents behind SCHEDULE-DEVICE-ERROR.

Each station alternates between healthy spells (exponential, mean `MEAN_HEALTHY_SECONDS`)
and one incident of 5 to 60 minutes. An incident sets one error field to a code
(0 means no error) and has an effect the other feeds show: a terminal error puts an idle
gun in fault (gun status 2), a host or DC error puts one DC module in fault
(dcWorkStatus 2). A message is sent when an incident is raised and when it clears.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .charging import ChargingProcess
from .clock import Tick
from .stations import GUN_FAULT, GUN_IDLE, Gun, Station

ERROR_FIELDS = ("hostError", "acError", "dcError", "terminalError", "storageError")
_CODE_BASE = {name: 1000 * (k + 1) for k, name in enumerate(ERROR_FIELDS)}  # hostError 1001.., acError 2001..
MEAN_HEALTHY_SECONDS = 8 * 3600.0
DURATION_RANGE = (300, 3600)


def error_messages_per_station_second() -> float:
    """Expected SCHEDULE-DEVICE-ERROR messages per station per second (a raise and a clear per cycle)."""
    return 2.0 / (MEAN_HEALTHY_SECONDS + sum(DURATION_RANGE) / 2.0)


@dataclass(eq=False, slots=True)
class Incident:
    """An active error on a station and what it disabled."""

    field: str
    code: int
    gun: Gun | None


class IncidentProcess:
    """Raises and clears incidents; `step` returns the stations whose error codes changed."""

    def __init__(self, stations: list[Station], seed: int, charging: ChargingProcess) -> None:
        self._stations = stations
        self._charging = charging
        self._rng = random.Random(f"{seed}:incidents")
        self._due: dict[int, list[Station]] = {}
        self.active: dict[Station, Incident] = {}

    def begin(self, tick: Tick) -> None:
        """Schedule every station's first incident."""
        for station in self._stations:
            self._schedule(station, tick.t + 1 + int(self._rng.expovariate(1.0 / MEAN_HEALTHY_SECONDS)))

    def step(self, tick: Tick) -> list[Station]:
        """Raise or clear the incidents due now."""
        changed = self._due.pop(tick.t, [])
        for station in changed:
            incident = self.active.pop(station, None)
            if incident is None:
                self._raise(station, tick)
            else:
                self._clear(station, incident, tick)
        return changed

    def codes(self, station: Station) -> dict[str, int]:
        """The station's current error fields."""
        codes = dict.fromkeys(ERROR_FIELDS, 0)
        incident = self.active.get(station)
        if incident is not None:
            codes[incident.field] = incident.code
        return codes

    def _raise(self, station: Station, tick: Tick) -> None:
        fields = ERROR_FIELDS if station.storages else ERROR_FIELDS[:-1]
        name = self._rng.choice(fields)
        gun = None
        if name == "terminalError":
            idle = [g for g in station.guns if g.status == GUN_IDLE]
            gun = self._rng.choice(idle) if idle else None
            if gun is not None:
                gun.status = GUN_FAULT
        elif name in ("hostError", "dcError"):
            station.faulty_module = self._rng.randrange(station.power_num)
        self.active[station] = Incident(name, _CODE_BASE[name] + self._rng.randint(1, 20), gun)
        self._schedule(station, tick.t + self._rng.randint(*DURATION_RANGE))

    def _clear(self, station: Station, incident: Incident, tick: Tick) -> None:
        if incident.gun is not None:
            self._charging.release(incident.gun, tick)
        station.faulty_module = -1
        self._schedule(station, tick.t + 1 + int(self._rng.expovariate(1.0 / MEAN_HEALTHY_SECONDS)))

    def _schedule(self, station: Station, t: int) -> None:
        self._due.setdefault(t, []).append(station)
