"""The simulated clock: one tick per simulated second, with the derived fields feeds need."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

SEND_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True, slots=True)
class Tick:
    """One simulated second: `t` seconds after the start, as wall time and Kafka timestamp."""

    t: int
    dt: datetime
    send_time: str
    timestamp_ms: int
    day: date
    hour: int
    second_of_day: int


def format_time(dt: datetime) -> str:
    """`dt` as a sendTime string, "YYYY-MM-DD HH:MM:SS"."""
    return dt.strftime(SEND_TIME_FORMAT)


class Clock:
    """Maps simulated seconds to ticks; a naive start is local time (as `datetime.timestamp` reads it)."""

    def __init__(self, start: datetime) -> None:
        self.start = start.replace(microsecond=0)
        self._start_ms = round(self.start.timestamp() * 1000)

    def tick(self, t: int) -> Tick:
        """The tick `t` seconds after the start."""
        dt = self.start + timedelta(seconds=t)
        return Tick(
            t,
            dt,
            format_time(dt),
            self._start_ms + t * 1000,
            dt.date(),
            dt.hour,
            dt.hour * 3600 + dt.minute * 60 + dt.second,
        )
