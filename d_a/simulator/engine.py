"""StationSimulator: the deterministic multi-station feed for all input topics, and `rates()`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from .clock import Clock, Tick
from .faults import FaultConfig, FaultInjector
from .feeds import Feed, expected_share, feed_registry
from .message import TOPICS, Draft, SimMessage, encode
from .stations import layout
from .world import World

DEFAULT_START = datetime(2025, 11, 1)


class StationSimulator:
    """A simulated fleet of charging stations, stepped by the caller on a simulated clock.

    The same `seed` gives the same bytes; the caller moves time with `advance`. Every
    topic's state is simulated whatever `topics` selects, so selecting topics never
    changes the content of the others.
    """

    def __init__(
        self,
        stations: int = 10,
        seed: int = 0,
        start: datetime | None = None,
        history_hours: int = 168,
        realtime_chunk: int = 50,
        topics: Iterable[str] | None = None,
        faults: FaultConfig | None = None,
    ) -> None:
        if stations < 1 or history_hours < 0 or realtime_chunk < 1:
            raise ValueError("stations and realtime_chunk must be >= 1 and history_hours >= 0")
        selected = set(TOPICS if topics is None else topics)
        unknown = selected - set(TOPICS)
        if unknown:
            raise ValueError(f"unknown topics: {sorted(unknown)}")
        self._clock = Clock(start or DEFAULT_START)
        self._world = World(stations, seed, history_hours)
        registry = feed_registry(realtime_chunk)
        self._feeds: list[Feed] = [feed for topic, feed in registry.items() if topic in selected]
        for feed in self._feeds:
            feed.attach(self._world, seed)
        self._faults = FaultInjector(faults, seed, stations) if faults is not None and faults.rate > 0 else None
        self._elapsed = 0.0
        self._tick = self._clock.tick(0)
        self._world.begin(self._tick)
        self.station_ids: list[str] = [station.station_id for station in self._world.stations]

    @property
    def now(self) -> datetime:
        """The simulated clock."""
        return self._clock.start + timedelta(seconds=self._elapsed)

    def initial_messages(self) -> list[SimMessage]:
        """Reference data as of now: params, calendar, prices, weather and the realtime history."""
        out: list[SimMessage] = []
        for feed in self._feeds:
            self._emit(feed, feed.snapshot(self._world, self._tick), self._tick, out)
        return out

    def advance(self, seconds: float = 1.0) -> list[SimMessage]:
        """Move the clock by `seconds`; return the messages of every full second passed, in time order."""
        if seconds < 0:
            raise ValueError("cannot move the simulated clock backwards")
        self._elapsed += seconds
        out: list[SimMessage] = []
        for t in range(self._tick.t + 1, math.floor(self._elapsed) + 1):
            tick = self._tick = self._clock.tick(t)
            self._world.step(tick)
            for feed in self._feeds:
                drafts = feed.due(self._world, tick)
                if drafts:
                    self._emit(feed, drafts, tick, out)
        return out

    def run(self, duration_seconds: float, step: float = 1.0) -> Iterator[SimMessage]:
        """Yield the initial messages, then `advance(step)` until `duration_seconds` have passed.

        Messages still held back by an out_of_order fault are released at the end.
        """
        if step <= 0:
            raise ValueError("step must be > 0")
        yield from self.initial_messages()
        end = self._elapsed + duration_seconds
        while self._elapsed < end:
            yield from self.advance(min(step, end - self._elapsed))
        yield from self.flush()

    def flush(self) -> list[SimMessage]:
        """Release the messages an out_of_order fault still holds back (none without faults)."""
        return [] if self._faults is None else self._faults.drain(self._tick)

    def _emit(self, feed: Feed, drafts: list[Draft], tick: Tick, out: list[SimMessage]) -> None:
        if self._faults is not None:
            self._faults.emit(feed.topic, feed.shape, drafts, tick, out)
            return
        topic, timestamp = feed.topic, tick.timestamp_ms
        out.extend(
            SimMessage(topic, key, encode(payload) if raw is None else raw, timestamp, station_id)
            for station_id, key, payload, raw in drafts
        )


def rates(stations: int, at: datetime | None = None, realtime_chunk: int = 50) -> dict[str, float]:
    """Expected messages per simulated second per topic for a fleet of `stations` (faults off).

    Car orders follow the daily load curve: by default its daily mean, or its value at the
    time of day of `at`. Messages of `initial_messages` are not included.
    """
    layouts = [layout(index) for index in range(1, stations + 1)]
    share = expected_share(None if at is None else at.hour * 3600 + at.minute * 60 + at.second)
    return {topic: feed.rate(layouts, share) for topic, feed in feed_registry(realtime_chunk).items()}
