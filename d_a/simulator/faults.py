"""Fault injection: turns a share of the clean feed into the bad messages a data plane must survive.

Each kind is a small function registered in `_KINDS` with the message shapes it applies
to. A message picked for a fault (probability `FaultConfig.rate`) gets one kind, chosen
among the configured kinds that apply to its topic (e.g. `late` needs a sendTime), and is
labelled with it. SCHEDULE-STATION-PARAM and SCHEDULE-ENVIRONMENT-CALENDAR are never
faulted: they are the reference data the other faults are defined against.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import orjson

from .clock import SEND_TIME_FORMAT, Tick
from .message import Draft, SimMessage, encode

FAULT_KINDS: tuple[str, ...] = (
    "malformed_json",
    "wrong_shape",
    "missing_id",
    "unknown_station",
    "wrong_type",
    "nan_value",
    "huge_array",
    "late",
    "out_of_order",
    "duplicate",
)
# Fields that route a record to a station (`StationRouter`) and the id prefix of each.
ROUTING_FIELDS = {"stationId": "ST", "hostId": "H", "hostCode": "H", "meterId": "M"}
UNKNOWN_STATION_BASE = 90000
_NAN_SENTINEL = "__d_a_nan__"
_NAN_TOKENS = (b"NaN", b"Infinity", b"-Infinity")


@dataclass(frozen=True)
class FaultConfig:
    """Which faults to inject and how often (`rate` = share of messages made faulty)."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    huge_array_len: int = 100_000
    late_seconds: int = 7200

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"FaultConfig.rate must be within [0, 1], got {self.rate}")
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"FaultConfig.kinds must be a non-empty subset of FAULT_KINDS, got {self.kinds}")


@dataclass(frozen=True)
class Shape:
    """Where a topic's records and fields sit in its message, as far as faults need to know."""

    envelope: str | None = None  # key wrapping the records; None for a flat object or an array
    array: bool = False  # the value is a JSON array of records
    value_path: tuple[str | int, ...] = ()  # a numeric field of the first record
    array_path: tuple[str | int, ...] = ()  # where huge_array puts its list; defaults to value_path
    send_time: bool = True  # records carry sendTime
    stream: bool = True  # a station sends this topic repeatedly (out_of_order can be seen)
    faultable: bool = True

    def records(self, payload: Any) -> list[dict]:
        """The station records inside a decoded message."""
        if self.envelope is not None:
            return payload[self.envelope]
        return payload if self.array else [payload]


@dataclass(frozen=True)
class _Kind:
    applies: Callable[[Shape], bool]
    apply: Callable[[FaultInjector, Shape, Any, SimMessage], list[SimMessage]]


class FaultInjector:
    """Applies a FaultConfig to drafts of one simulator; holds messages delayed by out_of_order."""

    def __init__(self, config: FaultConfig, seed: int, stations: int) -> None:
        self.config = config
        self._rng = random.Random(f"{seed}:faults")
        self._unknown_base = max(UNKNOWN_STATION_BASE, stations + 1)
        self._kinds_by_shape: dict[Shape, tuple[str, ...]] = {}
        self._held: dict[tuple[str, str | None], list[SimMessage]] = {}

    def emit(self, topic: str, shape: Shape, drafts: list[Draft], tick: Tick, out: list[SimMessage]) -> None:
        """Encode drafts into `out`, faulting some of them."""
        kinds = self._kinds_for(shape)
        rate, uniform = self.config.rate, self._rng.random
        for station_id, key, payload, raw in drafts:
            value = raw if raw is not None else encode(payload)
            message = SimMessage(topic, key, value, tick.timestamp_ms, station_id)
            if kinds and uniform() < rate:
                kind = self._rng.choice(kinds)
                decoded = payload if raw is None else orjson.loads(raw)
                produced = _KINDS[kind].apply(self, shape, decoded, message)
            else:
                produced = [message]
            for item in produced:
                out.append(item)
                if self._held and item.fault is None:
                    self._release(topic, item.station_id, tick, out)

    def drain(self, tick: Tick) -> list[SimMessage]:
        """Emit every message still held back by out_of_order."""
        held = [replace(m, timestamp_ms=tick.timestamp_ms) for group in self._held.values() for m in group]
        self._held.clear()
        return held

    def _kinds_for(self, shape: Shape) -> tuple[str, ...]:
        if shape not in self._kinds_by_shape:
            self._kinds_by_shape[shape] = tuple(
                kind for kind in self.config.kinds if shape.faultable and _KINDS[kind].applies(shape)
            )
        return self._kinds_by_shape[shape]

    def _release(self, topic: str, station_id: str | None, tick: Tick, out: list[SimMessage]) -> None:
        """Emit this station+topic's messages held in earlier ticks, now that a newer clean one went out."""
        key = (topic, station_id)
        group = self._held.get(key)
        if not group or group[0].timestamp_ms >= tick.timestamp_ms:
            return
        now = tick.timestamp_ms
        out.extend(replace(m, timestamp_ms=now) for m in group if m.timestamp_ms < now)
        remaining = [m for m in group if m.timestamp_ms >= now]
        if remaining:
            self._held[key] = remaining
        else:
            del self._held[key]

    def hold(self, message: SimMessage) -> None:
        """Keep a message back until a newer, clean one of its station+topic is emitted."""
        self._held.setdefault((message.topic, message.station_id), []).append(message)

    def unknown_number(self) -> int:
        """A station number beyond the fleet; its ST/H/M ids were never announced by PARAM."""
        return self._unknown_base + self._rng.randrange(10000)

    def pick(self, options: tuple) -> Any:
        """A random element of `options`, from the injector's own stream."""
        return self._rng.choice(options)


def _faulted(message: SimMessage, kind: str, value: bytes | None = None, **changes: Any) -> SimMessage:
    return replace(message, value=message.value if value is None else value, fault=kind, **changes)


def _set_path(record: Any, path: tuple[str | int, ...], value: Any) -> None:
    for step in path[:-1]:
        record = record[step]
    record[path[-1]] = value


def _malformed_json(inj: FaultInjector, shape: Shape, payload: Any, msg: SimMessage) -> list[SimMessage]:
    """Truncate the JSON text: a proper prefix of an object or array never parses."""
    return [_faulted(msg, "malformed_json", msg.value[: max(1, len(msg.value) // 2)])]


def _wrong_shape(inj: FaultInjector, shape: Shape, payload: Any, msg: SimMessage) -> list[SimMessage]:
    """Envelope key missing (records under "data"), or a list of values where an object is expected."""
    if shape.envelope is not None or shape.array:
        broken: Any = {"data": shape.records(payload)}
    else:
        broken = list(payload.values())
    return [_faulted(msg, "wrong_shape", encode(broken))]


def _missing_id(inj: FaultInjector, shape: Shape, payload: Any, msg: SimMessage) -> list[SimMessage]:
    """Remove every field that could route the records to a station; the key goes too."""
    for record in shape.records(payload):
        for name in ROUTING_FIELDS:
            record.pop(name, None)
    return [_faulted(msg, "missing_id", encode(payload), key=None)]


def _unknown_station(inj: FaultInjector, shape: Shape, payload: Any, msg: SimMessage) -> list[SimMessage]:
    """Move the records to a station (and its host/meter) that PARAM never announced."""
    number = inj.unknown_number()
    for record in shape.records(payload):
        for name, prefix in ROUTING_FIELDS.items():
            if name in record:
                record[name] = f"{prefix}{number}"
    key = f"{ROUTING_FIELDS['stationId']}{number}".encode() if msg.key is not None else None
    return [_faulted(msg, "unknown_station", encode(payload), key=key)]


def _wrong_type(inj: FaultInjector, shape: Shape, payload: Any, msg: SimMessage) -> list[SimMessage]:
    """A string where a number is expected."""
    _set_path(shape.records(payload)[0], shape.value_path, "abc")
    return [_faulted(msg, "wrong_type", encode(payload))]


def _nan_value(inj: FaultInjector, shape: Shape, payload: Any, msg: SimMessage) -> list[SimMessage]:
    """A literal NaN / Infinity / -Infinity token (valid for Python's json, not for strict parsers)."""
    _set_path(shape.records(payload)[0], shape.value_path, _NAN_SENTINEL)
    token = inj.pick(_NAN_TOKENS)
    value = encode(payload).replace(b'"' + _NAN_SENTINEL.encode() + b'"', token)
    return [_faulted(msg, "nan_value", value)]


def _huge_array(inj: FaultInjector, shape: Shape, payload: Any, msg: SimMessage) -> list[SimMessage]:
    """A list of `huge_array_len` numbers in a field."""
    huge = [0] * inj.config.huge_array_len
    _set_path(shape.records(payload)[0], shape.array_path or shape.value_path, huge)
    return [_faulted(msg, "huge_array", encode(payload))]


def _late(inj: FaultInjector, shape: Shape, payload: Any, msg: SimMessage) -> list[SimMessage]:
    """Every sendTime `late_seconds` in the past (the Kafka timestamp stays now)."""
    delay = timedelta(seconds=inj.config.late_seconds)
    for record in shape.records(payload):
        sent = datetime.strptime(record["sendTime"], SEND_TIME_FORMAT)
        record["sendTime"] = (sent - delay).strftime(SEND_TIME_FORMAT)
    return [_faulted(msg, "late", encode(payload))]


def _out_of_order(inj: FaultInjector, shape: Shape, payload: Any, msg: SimMessage) -> list[SimMessage]:
    """Hold the message; it is emitted right after the next, newer one of its station+topic."""
    inj.hold(_faulted(msg, "out_of_order"))
    return []


def _duplicate(inj: FaultInjector, shape: Shape, payload: Any, msg: SimMessage) -> list[SimMessage]:
    """The message twice; the second copy carries the label."""
    return [msg, _faulted(msg, "duplicate")]


def _always(shape: Shape) -> bool:
    return True


_KINDS: dict[str, _Kind] = {
    "malformed_json": _Kind(_always, _malformed_json),
    "wrong_shape": _Kind(_always, _wrong_shape),
    "missing_id": _Kind(_always, _missing_id),
    "unknown_station": _Kind(_always, _unknown_station),
    "wrong_type": _Kind(lambda shape: bool(shape.value_path), _wrong_type),
    "nan_value": _Kind(lambda shape: bool(shape.value_path), _nan_value),
    "huge_array": _Kind(lambda shape: bool(shape.array_path or shape.value_path), _huge_array),
    "late": _Kind(lambda shape: shape.send_time, _late),
    "out_of_order": _Kind(lambda shape: shape.stream and shape.send_time, _out_of_order),
    "duplicate": _Kind(_always, _duplicate),
}
