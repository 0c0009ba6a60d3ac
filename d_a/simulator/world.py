"""The simulated system as a whole: the fleet and the processes that move it each second.

Feeds only read the world; `step` is the one place that changes it, so every topic sees
the same state within a tick whichever topics are selected.
"""

from __future__ import annotations

from datetime import date

from .charging import ChargingProcess, Session
from .clock import Tick
from .environment import WEATHER_PV_FACTOR, storage_power_per_kwh, sun_factor, weather_on
from .history import HourlyHistory
from .incidents import IncidentProcess
from .stations import PvUnit, Station, Storage, build_fleet


class World:
    """Fleet, charging sessions, incidents and hourly history, plus what happened in the last tick."""

    def __init__(self, stations: int, seed: int, history_hours: int) -> None:
        self.seed = seed
        self.stations: list[Station] = build_fleet(stations, seed, history_hours)
        self.charging = ChargingProcess(self.stations, seed)
        self.incidents = IncidentProcess(self.stations, seed, self.charging)
        self.history = HourlyHistory(self.stations, seed)
        self.sessions: list[Session] = []  # sessions that delivered power in the last tick
        self.error_changes: list[Station] = []  # stations whose error codes changed in the last tick
        self._weather: dict[tuple[str, int], int] = {}

    def begin(self, tick: Tick) -> None:
        """Set the initial state at the start tick."""
        self.history.begin(tick)
        self.charging.begin(tick)
        self.incidents.begin(tick)

    def step(self, tick: Tick) -> None:
        """Advance one second. A full hour closes the finished hour's history row first."""
        if tick.second_of_day % 3600 == 0:
            self.history.close_hour(tick)
        self.error_changes = self.incidents.step(tick)
        self.sessions = self.charging.step(tick)

    def weather(self, station: Station, day: date) -> int:
        """Weather code of a station on a day (cached; the same value every feed sees)."""
        key = (station.station_id, day.toordinal())
        code = self._weather.get(key)
        if code is None:
            if len(self._weather) > 8 * len(self.stations):
                self._weather.clear()
            code = self._weather[key] = weather_on(self.seed, station.station_id, day)
        return code

    def pv_power(self, pv: PvUnit, tick: Tick) -> float:
        """DC output of a PV unit now, kW: clear-sky sun times the day's weather factor."""
        factor = WEATHER_PV_FACTOR[self.weather(pv.station, tick.day)]
        return pv.capacity_kw * sun_factor(tick.second_of_day, tick.day) * factor

    @staticmethod
    def storage_power(storage: Storage, tick: Tick) -> float:
        """Storage power now, kW: > 0 discharging (peak hours), < 0 charging (valley hours)."""
        return storage.capacity_kwh * storage_power_per_kwh(tick.second_of_day)

    def meter_power(self, station: Station, tick: Tick) -> float:
        """Grid import at the meter, kW: host load plus storage charging, minus PV and storage discharge."""
        pv = sum(self.pv_power(unit, tick) for unit in station.pvs)
        storage = sum(self.storage_power(unit, tick) for unit in station.storages)
        return station.ac_power() - pv - storage
