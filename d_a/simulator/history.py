"""Hourly SCHEDULE-STATION-REALTIME-DATA rows per station.

Hours before the simulation start are synthesized from the occupancy curve (vectorized
over all guns, as a week of history for thousands of stations is millions of gun-hours);
every hour after it is measured from the sessions' per-second power (average = energy /
3600 s, maximum = highest second). Station values are the sums over the station's guns.
Rows are kept encoded in each station's bounded deque, so re-sending the whole history
every hour costs a join, not a re-encode. A row's sendTime is the start of the hour it covers.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import numpy as np

from .clock import Tick, format_time
from .environment import is_holiday, occupancy
from .message import encode
from .stations import Station

HOUR = timedelta(hours=1)
TYPICAL_KW_CAP = 110.0  # most cars cannot draw more, whatever the gun offers


def encode_row(station: Station, send_time: str, averages: list[float], maxima: list[float]) -> bytes:
    """Encode one station-hour row from per-gun average and maximum kW (already rounded to 0.01)."""
    return encode(
        {
            "stationId": station.station_id,
            "hostCode": station.host_code,
            "sendTime": send_time,
            "gunPower": {
                "gunNo": [gun.no for gun in station.guns],
                "outputPowerPerGunAvg": averages,
                "outputPowerPerGunMax": maxima,
            },
            "outputPowerPerStationAvg": round(sum(averages), 2),
            "outputPowerPerStationMax": round(sum(maxima), 2),
        }
    )


class HourlyHistory:
    """Fills and rolls the stations' hourly history deques."""

    def __init__(self, stations: list[Station], seed: int) -> None:
        self._stations = stations
        self._rng = np.random.default_rng(random.Random(f"{seed}:history").getrandbits(64))
        self._limits = np.array([min(gun.max_power, TYPICAL_KW_CAP) for s in stations for gun in s.guns])

    def begin(self, tick: Tick) -> None:
        """Synthesize the full history before the start hour and the part of the start hour already gone."""
        hour_start = tick.dt.replace(minute=0, second=0)
        hours = max((station.history.maxlen or 0 for station in self._stations), default=0)
        for back in range(hours, 0, -1):
            start = hour_start - back * HOUR
            averages, maxima = self._synth(_hour_share(start))
            self._append(format_time(start), averages.tolist(), maxima.tolist())
        elapsed = tick.second_of_day % 3600
        if elapsed:
            averages, maxima = self._synth(_hour_share(hour_start))
            guns = [gun for station in self._stations for gun in station.guns]
            for gun, avg, peak in zip(guns, averages.tolist(), maxima.tolist(), strict=True):
                gun.hour_energy, gun.hour_max = avg * elapsed, peak

    def close_hour(self, tick: Tick) -> None:
        """At a full hour: turn the finished hour's accumulators into a row and reset them."""
        guns = [gun for station in self._stations for gun in station.guns]
        averages = [round(gun.hour_energy / 3600.0, 2) for gun in guns]
        maxima = [round(gun.hour_max, 2) for gun in guns]
        for gun in guns:
            gun.hour_energy, gun.hour_max = 0.0, 0.0
        self._append(format_time(tick.dt - HOUR), averages, maxima)

    def _append(self, send_time: str, averages: list[float], maxima: list[float]) -> None:
        """Append one row per station, slicing the fleet-wide per-gun lists."""
        offset = 0
        for station in self._stations:
            end = offset + len(station.guns)
            station.history.append(encode_row(station, send_time, averages[offset:end], maxima[offset:end]))
            offset = end

    def _synth(self, share: float) -> tuple[np.ndarray, np.ndarray]:
        """Plausible per-gun (average, maximum) kW for an hour before the start, given its occupancy."""
        count = len(self._limits)
        idle = self._rng.random(count) < (1.0 - share) ** 2
        typical = self._limits * (0.75 + 0.2 * self._rng.random(count))
        busy = np.minimum(1.0, share * (0.5 + self._rng.random(count)))
        averages = np.where(idle, 0.0, busy * typical)
        maxima = np.where(idle, 0.0, typical * (1.0 + 0.12 * self._rng.random(count)))
        return averages.round(2), maxima.round(2)


def _hour_share(hour_start: datetime) -> float:
    """Occupancy of an hour, a little higher on holidays."""
    return occupancy(hour_start.hour * 3600 + 1800) * (1.1 if is_holiday(hour_start.date()) else 1.0)
