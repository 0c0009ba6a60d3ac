"""StationOwnership: which stations a scaled-out instance serves, and what a rebalance does to them.

The consumer group gives each instance slots: partition p of every topic (`d_a.kafka.slots`),
which holds the stations whose id the producers' partitioner puts there. A partition given to
this instance is read from `restore_horizon_seconds` back: the messages before the group's
committed offset rebuild its stations' windows without callbacks (Tails' `MOVED` part) and runs
wait until they are read; those from the commit on run as usual, so whatever the previous owner
had not finished runs again here, and nothing is skipped. A partition taken away takes its
stations with it: the engine drops their windows, queued runs and held messages (`lose`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import ConfigError
from ..kafka.assignment import AssignedPartition
from ..kafka.message import TopicPartition
from ..kafka.offsets import OffsetManager
from ..kafka.slots import copartition_problem, slot_of
from .slot_states import SlotStates
from .tails import MOVED, Tails

__all__ = ["StationOwnership"]

logger = logging.getLogger("d_a.service")


class StationOwnership:
    """The consumer's StartChooser under `service.scale_out`. `offsets` gives the intake's
    OffsetManager (it learns the committed offsets of partitions read from the horizon);
    `lose(stations, partitions)` drops what the engine holds of stations whose slot moved away."""

    def __init__(
        self,
        tails: Tails,
        horizon: float,
        offsets: Callable[[], OffsetManager],
        lose: Callable[[list[str], list[TopicPartition]], None],
        stations: Callable[[], Sequence[str]],
        slots: int,
        states: SlotStates | None = None,
    ) -> None:
        self.tails = tails
        self.horizon = horizon
        self._offsets = offsets
        self._lose = lose
        self._stations = stations
        self.slots = slots  # partitions per topic
        self.states = states  # per-slot checkpoints (with state_dir)
        self.held: set[TopicPartition] = set()
        self.stations_lost = 0

    def check(self, partition_counts: Mapping[str, int]) -> None:
        """ConfigError when the topics the consumer reads do not all have the slot count."""
        problem = copartition_problem({**partition_counts, "(slots)": self.slots})
        if problem is not None:
            raise ConfigError(problem)
        logger.info("scale-out: %d slots (partitions per topic); this instance owns %s", self.slots, self.owned())

    def owned(self) -> list[int]:
        """The slots this instance reads now."""
        return sorted({tp.partition for tp in self.held})

    def since_ms(self) -> int:
        return int((time.time() - self.horizon) * 1000)

    async def prepare(self, partitions: Sequence[TopicPartition]) -> None:
        """With per-slot checkpoints: restore the slots new to this instance (the consumer waits)."""
        if self.states is None:
            return
        try:
            await self.states.gain({tp.partition for tp in partitions if tp not in self.held})
        except Exception:  # noqa: BLE001 - a slot not restored is rebuilt from Kafka instead
            logger.exception("scale-out: restoring slots from their checkpoints failed; rebuilt from Kafka instead")

    def choose_start(self, assigned: Mapping[TopicPartition, AssignedPartition]) -> dict[TopicPartition, int]:
        """Partitions new to this instance: those of slots restored from their checkpoints are read
        from the round's offsets (`SlotStates`); the others from the horizon, what lies before
        their commit rebuilding windows without runs."""
        starts: dict[TopicPartition, int] = {}
        rebuilt: dict[int, int] = {}  # messages read again per slot rebuilt from Kafka
        offsets = self._offsets()
        new = {tp: found for tp, found in assigned.items() if tp not in self.held}
        restored = {tp: found for tp, found in new.items() if self.states and self.states.owns_state(tp.partition)}
        if self.states is not None and restored:
            starts.update(self.states.choose_start(restored))
        self.held.update(new)
        for tp, found in new.items():
            if tp in restored:
                continue
            if found.committed is not None:
                offsets.note_committed(tp, found.committed)
            if found.position is None or found.since is None:
                continue
            start = max(found.since, found.earliest)
            if start < found.position:
                starts[tp] = start
                rebuilt[tp.partition] = rebuilt.get(tp.partition, 0) + found.position - start
                self.tails.add(tp, found.position, MOVED)
        if rebuilt:
            logger.info(
                "scale-out: slots %s assigned; rebuilding their windows from %d messages of the last %g s "
                "before their stations run",
                sorted(rebuilt),
                sum(rebuilt.values()),
                self.horizon,
            )
        return starts

    def partitions_lost(self, partitions: Sequence[TopicPartition]) -> None:
        """Drop the stations of the slots no partition of which is left here."""
        self.held.difference_update(partitions)
        self.tails.drop(list(partitions))
        kept = {tp.partition for tp in self.held}
        gone = {tp.partition for tp in partitions} - kept
        if self.states is not None:
            self.states.lose(gone)
        stations = [s for s in self._stations() if self.slots and slot_of(s, self.slots) in gone]
        self.stations_lost += len(stations)
        self._lose(stations, list(partitions))
        logger.info(
            "scale-out: slots %s moved to another instance with %d stations; this instance owns %s",
            sorted(gone),
            len(stations),
            self.owned(),
        )

    def status(self) -> dict[str, Any]:
        return {
            "slots": self.slots,
            "owned": self.owned(),
            "stations_moved_away": self.stations_lost,
        }
