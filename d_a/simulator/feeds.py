"""When each topic sends what: the feed kinds and the registry mapping every topic to one.

Four kinds cover the 13 topics:
- PeriodicFeed: one message per device every `period` seconds, devices spread over the
  period so a second carries a steady share (meter, gun, DC/DC, AC/DC, storage, PV);
- SessionFeed: one message per charging gun per second (car orders);
- IncidentFeed: one message when a station's error codes change (device errors);
- SnapshotFeed: reference data sent at the start and again at a calendar boundary
  (params once, realtime history hourly, weather daily, prices monthly, calendar yearly).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from functools import partial
from typing import Any

from . import message as topics
from . import payloads
from .clock import Tick
from .environment import mean_occupancy, occupancy
from .faults import Shape
from .incidents import error_messages_per_station_second
from .message import Draft
from .stations import Layout, Station
from .world import World

_MONTH_SECONDS = 30.44 * 86400
_YEAR_SECONDS = 365.25 * 86400


class Feed:
    """One topic's messages: at the start (`snapshot`) and in each tick (`due`)."""

    def __init__(self, topic: str, shape: Shape) -> None:
        self.topic = topic
        self.shape = shape

    def attach(self, world: World, seed: int) -> None:
        """Prepare per-run state (called once per simulator)."""

    def snapshot(self, world: World, tick: Tick) -> list[Draft]:
        """Messages for `initial_messages`."""
        return []

    def due(self, world: World, tick: Tick) -> list[Draft]:
        """Messages of this tick."""
        return []

    def rate(self, layouts: list[Layout], share: float) -> float:
        """Expected messages per simulated second for a fleet, given the share of charging guns."""
        raise NotImplementedError


class PeriodicFeed(Feed):
    """Every device reports every `period` seconds, at its own phase within the period."""

    def __init__(
        self,
        topic: str,
        shape: Shape,
        period: int,
        devices: Callable[[Station], list[Any]],
        count: Callable[[Layout], int],
        build: Callable[[World, Any, Tick, random.Random], dict],
    ) -> None:
        super().__init__(topic, shape)
        self.period, self._devices, self._count, self._build = period, devices, count, build
        self._buckets: list[list[tuple[Station, Any]]] = []
        self._rng = random.Random()

    def attach(self, world: World, seed: int) -> None:
        self._rng = random.Random(f"{seed}:{self.topic}")
        self._buckets = [[] for _ in range(self.period)]
        for station in world.stations:
            for device in self._devices(station):
                self._buckets[self._rng.randrange(self.period)].append((station, device))

    def due(self, world: World, tick: Tick) -> list[Draft]:
        build, rng = self._build, self._rng
        return [
            (station.station_id, station.key, build(world, device, tick, rng), None)
            for station, device in self._buckets[tick.t % self.period]
        ]

    def rate(self, layouts: list[Layout], share: float) -> float:
        return sum(self._count(layout) for layout in layouts) / self.period


class SessionFeed(Feed):
    """Car orders: every session that delivered power in the tick."""

    def due(self, world: World, tick: Tick) -> list[Draft]:
        build = payloads.car_order_record
        return [(s.gun.station.station_id, s.gun.station.key, build(s, tick), None) for s in world.sessions]

    def rate(self, layouts: list[Layout], share: float) -> float:
        return share * sum(layout.guns for layout in layouts)


class IncidentFeed(Feed):
    """Device errors: the stations whose incident was raised or cleared in the tick."""

    def due(self, world: World, tick: Tick) -> list[Draft]:
        return [
            (station.station_id, station.key, payloads.error_record(world, station, tick), None)
            for station in world.error_changes
        ]

    def rate(self, layouts: list[Layout], share: float) -> float:
        return len(layouts) * error_messages_per_station_second()


class SnapshotFeed(Feed):
    """Reference data: all of it at the start, again whenever `boundary` says a period began."""

    def __init__(
        self,
        topic: str,
        shape: Shape,
        build: Callable[[World, Tick], list[Draft]],
        boundary: Callable[[Tick], bool],
        messages_per_second: Callable[[int], float],
    ) -> None:
        super().__init__(topic, shape)
        self._build, self._boundary, self._per_second = build, boundary, messages_per_second

    def snapshot(self, world: World, tick: Tick) -> list[Draft]:
        return self._build(world, tick)

    def due(self, world: World, tick: Tick) -> list[Draft]:
        return self._build(world, tick) if self._boundary(tick) else []

    def rate(self, layouts: list[Layout], share: float) -> float:
        return self._per_second(len(layouts))


def _never(tick: Tick) -> bool:
    return False


def _hourly(tick: Tick) -> bool:
    return tick.second_of_day % 3600 == 0


def _daily(tick: Tick) -> bool:
    return tick.second_of_day == 0


def _monthly(tick: Tick) -> bool:
    return tick.second_of_day == 0 and tick.day.day == 1


def _yearly(tick: Tick) -> bool:
    return _monthly(tick) and tick.day.month == 1


def _one_station(station: Station) -> list[Station]:
    return [station]


def _one(layout: Layout) -> int:
    return 1


def feed_registry(chunk: int) -> dict[str, Feed]:
    """Fresh feeds for every topic; `chunk` = stations per multi-station message.

    The order is the order of messages within a tick: reference data first (params before
    anything that needs them, the realtime batch after the calendar, prices and weather),
    then device errors before the device states they explain.
    """
    per_chunk = partial(_chunks_per, chunk)
    feeds = [
        SnapshotFeed(
            topics.PARAM,
            Shape(array=True, send_time=False, stream=False, faultable=False),
            payloads.param_drafts,
            _never,
            lambda n: 0.0,
        ),
        SnapshotFeed(
            topics.CALENDAR,
            Shape(envelope="calendar", send_time=False, stream=False, faultable=False),
            payloads.calendar_drafts,
            _yearly,
            lambda n: 1 / _YEAR_SECONDS,
        ),
        SnapshotFeed(
            topics.CAR_PRICE,
            Shape(envelope="fee", value_path=("gridPrice",), send_time=False, stream=False),
            payloads.price_drafts,
            _monthly,
            lambda n: n / _MONTH_SECONDS,
        ),
        SnapshotFeed(
            topics.WEATHER,
            Shape(envelope="weather", value_path=("weatherSituationTomorrow",), send_time=False, stream=False),
            partial(payloads.weather_drafts, chunk=chunk),
            _daily,
            lambda n: per_chunk(n) / 86400,
        ),
        SnapshotFeed(
            topics.REALTIME,
            Shape(
                envelope="realTimeData",
                value_path=("outputPowerPerStationAvg",),
                array_path=("gunPower", "gunNo"),
                stream=False,
            ),
            partial(payloads.realtime_drafts, chunk=chunk),
            _hourly,
            lambda n: per_chunk(n) / 3600,
        ),
        IncidentFeed(topics.DEVICE_ERROR, Shape(value_path=("hostError",))),
        PeriodicFeed(topics.METER, Shape(value_path=("meterPower",)), 300, _one_station, _one, payloads.meter_record),
        PeriodicFeed(
            topics.GUN,
            Shape(value_path=("status",)),
            15,
            lambda station: station.guns,
            lambda layout: layout.guns,
            payloads.gun_record,
        ),
        SessionFeed(topics.CAR_ORDER, Shape(value_path=("outputPower",))),
        PeriodicFeed(
            topics.HOST_DCDC,
            Shape(value_path=("dcdcPower", 0), array_path=("dcdcPower",)),
            15,
            _one_station,
            _one,
            payloads.dcdc_record,
        ),
        PeriodicFeed(topics.HOST_ACDC, Shape(value_path=("acPower",)), 15, _one_station, _one, payloads.acdc_record),
        PeriodicFeed(
            topics.STORAGE,
            Shape(value_path=("storageSOC",)),
            15,
            lambda station: station.storages,
            lambda layout: layout.storages,
            payloads.storage_record,
        ),
        PeriodicFeed(
            topics.PV,
            Shape(value_path=("pvPreDcPower",), send_time=False, stream=False),
            60,
            lambda station: station.pvs,
            lambda layout: layout.pvs,
            payloads.pv_record,
        ),
    ]
    return {feed.topic: feed for feed in feeds}


def _chunks_per(chunk: int, stations: int) -> int:
    return math.ceil(stations / chunk)


def expected_share(second_of_day: int | None) -> float:
    """Share of charging guns at a time of day, or its daily mean when no time is given."""
    return mean_occupancy() if second_of_day is None else occupancy(second_of_day)
