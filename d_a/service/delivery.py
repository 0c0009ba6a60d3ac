"""DeliveryTracker: when a consumed message may be committed.

A poll batch of one topic is applied to the windows at once; its messages are then held by
every station the batch touched, until each of those stations has finished a callback (and its
upload) that saw the data. Only then are the messages marked done for the OffsetManager. A station
that cannot run yet (its required topics have no data) does not hold anything back. A hold keeps
the messages' positions, not the messages: their decoded values are in the windows by then, and
holding them would keep every held message's JSON alive (and in the collector's way).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..kafka import KafkaMessage

__all__ = ["DeliveryTracker", "Hold", "Position", "oldest_timestamp_ms", "positions_of"]

Position = tuple[str, int, int]  # a message's topic, partition and offset


@dataclass(eq=False)
class Hold:
    """Messages (their positions) waiting for the stations that have not yet run a callback over their data."""

    messages: list[Position]
    waiting: set[str]
    since: float = field(default_factory=time.monotonic)
    oldest_ms: int | None = None  # the oldest message timestamp, for latency figures


class DeliveryTracker:
    """Which held messages each station still has to see, and releasing them when it has."""

    def __init__(self, release: Callable[[list[Position]], None]) -> None:
        self._release = release
        self._unseen: dict[str, list[Hold]] = {}
        self.held_messages = 0

    def hold(self, messages: list[Position], stations: Iterable[str], oldest_ms: int | None = None) -> None:
        """Hold the messages at these positions (`oldest_ms`: their oldest timestamp) until every one
        of `stations` has run over them (none: release now)."""
        waiting = set(stations)
        if not waiting:
            self._release(messages)
            return
        hold = Hold(messages, waiting, oldest_ms=oldest_ms)
        self.held_messages += len(messages)
        for station in waiting:
            self._unseen.setdefault(station, []).append(hold)

    def take(self, station: str) -> list[Hold]:
        """The holds a callback starting now for `station` covers (it sees all their data)."""
        return self._unseen.pop(station, [])

    def seen(self, station: str, holds: list[Hold]) -> None:
        """`station` finished a callback (and upload) over `holds`: release what nobody waits for."""
        for hold in holds:
            hold.waiting.discard(station)
            if not hold.waiting:
                self.held_messages -= len(hold.messages)
                self._release(hold.messages)

    def give_back(self, station: str, holds: list[Hold]) -> None:
        """The run over `holds` did not finish (e.g. its upload failed): the next run must cover them."""
        if holds:
            self._unseen.setdefault(station, [])[:0] = holds

    def forget(self, station: str) -> None:
        """`station` will not run (removed, or not ready): it no longer holds anything back."""
        self.seen(station, self.take(station))

    def stations_waiting_since(self, before: float) -> list[str]:
        """Stations holding data older than `before` (monotonic time) that no callback has seen."""
        return [s for s, holds in self._unseen.items() if holds and holds[0].since < before]

    @staticmethod
    def oldest_timestamp_ms(holds: list[Hold]) -> int | None:
        """The oldest message timestamp among `holds` (for latency measurements)."""
        stamps = [h.oldest_ms for h in holds if h.oldest_ms is not None]
        return min(stamps) if stamps else None


def positions_of(messages: list[KafkaMessage]) -> list[Position]:
    """The positions of `messages`, which are all a hold needs of them."""
    return [(message.topic, message.partition, message.offset) for message in messages]


def oldest_timestamp_ms(messages: list[KafkaMessage]) -> int | None:
    """The oldest broker timestamp among `messages` (ms), None when none has one."""
    stamps = [m.timestamp_ms for m in messages if m.timestamp_ms is not None]
    return min(stamps) if stamps else None


def newest_timestamp_ms(messages: list[KafkaMessage]) -> int | None:
    """The newest broker timestamp among `messages` (ms), None when none has one."""
    stamps = [m.timestamp_ms for m in messages if m.timestamp_ms is not None]
    return max(stamps) if stamps else None
