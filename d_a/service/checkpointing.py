"""StateKeeper: a service's windows restored at start and checkpointed while it runs (d_a.state).

At start the windows come back from the last complete checkpoint round, with the offsets O they
reflect. When the consumer is assigned a partition it reads it from the lower of O and the
group's committed offset C, or from the restore horizon when windows are to be rebuilt from
Kafka (`choose_start`); what it reads again falls into `Tails`' parts, so nothing either side
is missed and no callback runs again on what it saw.

Every `checkpoint_interval_seconds` a round copies what the changed stations' windows gained
since their last round, or their whole windows in turn every `checkpoint_whole_every` rounds (on
the event loop, between two fetches, so they reflect exactly the offsets fetched), and a thread
writes them.
Commits do not wait for rounds: a restart reads again what the last round lacks. Stopping writes
a last round, so a clean restart reads nothing again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..dispatcher import DataDispatcher
from ..kafka.assignment import AssignedPartition
from ..kafka.message import TopicPartition
from ..kafka.offsets import OffsetManager
from ..kafka.slots import slot_of
from ..state import CheckpointStore, RoundReport
from ..state.rounds import RoundTaker
from .tails import REBUILT, REPLAYED, ROUTED, Tails

__all__ = ["SlotScope", "StateKeeper"]

logger = logging.getLogger("d_a.state")


@dataclass(frozen=True)
class SlotScope:
    """The stations (`in`) and partitions of one slot of `slots` (a scaled-out service's unit)."""

    slot: int
    slots: int

    def __contains__(self, station: object) -> bool:
        return isinstance(station, str) and slot_of(station, self.slots) == self.slot


class StateKeeper:
    """Restore at start, a checkpoint round every `interval` seconds, a last one at stop; the
    consumer's `StartChooser`. `horizon`: seconds of Kafka's messages windows are rebuilt from
    when their checkpoint is damaged or missing (None: they start empty); `whole_every`: rounds
    between a station's whole saves (`RoundTaker`)."""

    def __init__(
        self,
        store: CheckpointStore,
        dispatcher: DataDispatcher,
        interval: float,
        horizon: float | None = None,
        whole_every: int = 0,
        *,
        tails: Tails | None = None,
        scope: SlotScope | None = None,
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.interval = interval
        self.horizon = horizon
        self.taker = RoundTaker(whole_every)
        self.saved_offsets: dict[TopicPartition, int] = {}  # what the last complete round reflects
        self.tails = Tails() if tails is None else tails
        self.scope = scope  # one slot's stations and partitions (scale-out); None: all
        self.damaged: set[str] = set()  # stations whose checkpoint file could not be read
        self.rebuilding: bool | set[str] = False  # stations rebuilt from the horizon (True: all)
        self.restored = False
        self.restore_seconds: float | None = None
        self.restored_stations = 0
        self.problems: list[str] = []
        self.rounds = 0
        self.failed_rounds = 0
        self.last_round: RoundReport | None = None
        self.capture_seconds = 0.0  # on the event loop, summed over rounds
        self._offsets: OffsetManager | None = None
        self._assigned: set[TopicPartition] = set()
        self._first_positions: dict[TopicPartition, int] = {}  # of partitions the restored windows lack
        self._writing: asyncio.Task[None] | None = None
        self._last_round_at = time.monotonic()

    # -- restore -----------------------------------------------------------------------------------

    async def restore(self, offsets: OffsetManager) -> None:
        """Load the last complete round into the dispatcher's windows; `offsets` learns the
        committed offsets of the partitions read again."""
        started = time.perf_counter()
        restored = await asyncio.to_thread(self.store.load)
        global_windows = restored.global_windows if self.scope is None else {}  # read live under scale-out
        refitted = self.dispatcher.restore_windows(restored.stations, global_windows)
        with self.dispatcher.lock:  # a refitted station's files hold the old windows: saved whole next
            as_saved = {s: count for s, count in restored.changes.items() if s not in refitted}
            self.taker.note_saved(self.dispatcher.windows, as_saved)
        self.saved_offsets = dict(restored.offsets)
        self.damaged = set(restored.damaged)
        if self.horizon is not None:
            self.rebuilding = True if not restored.usable else set(restored.damaged)
        self._offsets = offsets
        self.problems = restored.problems
        self.restored_stations = len(restored.stations)
        self.restore_seconds = time.perf_counter() - started
        self.restored = True
        self._last_round_at = time.monotonic()
        if restored.round:
            age = "" if restored.written_at is None else f", written {time.time() - restored.written_at:.0f} s ago"
            logger.info(
                "restored the windows of %d stations from checkpoint round %d in %s (%.2f s%s)",
                self.restored_stations,
                restored.round,
                self.store.directory,
                self.restore_seconds,
                age,
            )
        else:
            logger.info("no usable checkpoint in %s: windows start empty", self.store.directory)
        if self.rebuilding:
            which = "every station" if self.rebuilding is True else f"stations {', '.join(sorted(self.rebuilding))}"
            logger.info("rebuilding the windows of %s from the last %g s of Kafka's messages", which, self.horizon)
        elif self.damaged:
            logger.warning(
                "stations %s start with empty windows: their checkpoint is damaged and "
                "service.restore_horizon_seconds is not set (it would rebuild them from Kafka)",
                ", ".join(sorted(self.damaged)),
            )

    @property
    def rebuilt_stations(self) -> bool | set[str]:
        """Whose records the rebuilt part writes (`DataDispatcher.ingest_batch`'s `store`)."""
        return self.rebuilding

    @property
    def routed_stations(self) -> bool | set[str]:
        """Whose records the routed part writes: the stations whose windows were not restored."""
        return self.damaged or False

    def since_ms(self) -> int | None:
        """The restore horizon as a time (ms), when windows are to be rebuilt."""
        if not self.rebuilding or self.horizon is None:
            return None
        return int((time.time() - self.horizon) * 1000)

    def choose_start(self, assigned: Mapping[TopicPartition, AssignedPartition]) -> dict[TopicPartition, int]:
        """Where to read partitions assigned for the first time: the lower of the restored round's
        offset and the committed one, or the horizon's offset when windows are rebuilt."""
        starts: dict[TopicPartition, int] = {}
        for tp, found in assigned.items():
            if tp not in self._assigned:
                self._assigned.add(tp)
                start = self._choose(tp, found)
                if start is not None:
                    starts[tp] = start
        if starts:
            logger.info(
                "reading %d assigned partitions from the restored windows' offsets (%d read again without callbacks)",
                len(starts),
                sum(any(part != ROUTED for _, part in parts) for parts in self.tails.pending().values()),
            )
        return starts

    def _choose(self, tp: TopicPartition, found: AssignedPartition) -> int | None:
        saved = self.saved_offsets.get(tp)
        committed = found.committed
        if saved is None:  # the windows hold none of it: read it from where this run starts it
            if found.position is None:
                return None
            start = self._first_positions[tp] = found.position
        else:
            start = saved if committed is None else min(saved, committed)
        rebuilt_end = None
        if self.rebuilding and found.since is not None and found.since < start:
            start, rebuilt_end = found.since, start
        if start < found.earliest:
            problem = (
                f"{tp.topic}[{tp.partition}]: offsets {start}-{found.earliest - 1} are no longer in Kafka "
                "(retention); the windows miss them"
            )
            logger.warning(problem)
            self.problems.append(problem)
            start = found.earliest
        if rebuilt_end is not None and rebuilt_end > start:
            self.tails.add(tp, rebuilt_end, REBUILT)
        if saved is not None and committed is not None:
            if committed < saved:
                self.tails.add(tp, saved, ROUTED)
            elif committed > max(saved, start):
                self.tails.add(tp, committed, REPLAYED)
        if committed is not None and self._offsets is not None:
            self._offsets.note_committed(tp, committed)
        return start

    async def prepare(self, partitions: Sequence[TopicPartition]) -> None:
        """Nothing to do: the windows were restored before the consumer started."""

    def partitions_lost(self, partitions: Sequence[TopicPartition]) -> None:
        """Nothing to do: a service without scale-out keeps its stations when the group rebalances."""

    @property
    def replaying(self) -> bool:
        """Whether messages no callback runs on are still being read again."""
        return self.tails.replaying

    # -- checkpoints -------------------------------------------------------------------------------

    def due(self) -> bool:
        """Whether a round should start now (none is being written and the interval passed)."""
        return self._writing is None and time.monotonic() - self._last_round_at >= self.interval

    def start_round(self, offsets: OffsetManager) -> None:
        """Copy the changed stations' windows now and write them in a thread."""
        self._writing = asyncio.create_task(self._round(offsets), name="d_a-checkpoint")

    async def final_round(self, offsets: OffsetManager) -> None:
        """At stop, before the last commit: wait for a round being written, then write one more."""
        if self._writing is not None:
            await asyncio.gather(self._writing, return_exceptions=True)
        await self._round(offsets)

    async def finish_writing(self) -> None:
        """Wait for a round being written (its thread finishes it either way)."""
        if self._writing is not None:
            await asyncio.gather(self._writing, return_exceptions=True)

    async def abandon(self) -> None:
        """As a crash: a round being written is left unfinished (its thread still completes it)."""
        if self._writing is not None:
            self._writing.cancel()
            await asyncio.gather(self._writing, return_exceptions=True)

    async def _round(self, offsets: OffsetManager) -> None:
        try:
            started = time.perf_counter()
            positions = {**self._first_positions, **self.saved_offsets}
            for tp, offset in offsets.positions().items():
                if self.scope is None or tp.partition == self.scope.slot:
                    positions[tp] = max(offset, positions.get(tp, offset))
            with self.dispatcher.lock:
                taken = self.taker.take(self.dispatcher.windows, positions, self.store.round + 1, stations=self.scope)
            self.capture_seconds += time.perf_counter() - started
            try:
                report = await asyncio.to_thread(self.store.write, taken)
            except OSError as exc:
                self.failed_rounds += 1
                logger.warning(
                    "checkpoint round not written to %s (a restart replays what the last round written lacks): %s",
                    self.store.directory,
                    exc,
                )
                return
            self.taker.saved()
            self.saved_offsets = positions
            self.rounds += 1
            self.last_round = report
            logger.debug(
                "checkpoint round %d: %d stations written whole, %d as their changes, %d kept, %d bytes in %.2f s",
                report.number,
                report.stations_written,
                report.stations_changed,
                report.stations_kept,
                report.bytes_written,
                report.seconds,
            )
        finally:
            self._last_round_at = time.monotonic()
            if asyncio.current_task() is self._writing:
                self._writing = None

    def status(self) -> dict[str, Any]:
        last = self.last_round
        return {
            "directory": str(self.store.directory),
            "restored": self.restored,
            "restored_stations": self.restored_stations,
            "restore_seconds": self.restore_seconds,
            "restore_progress": {"files_loaded": self.store.files_loaded, "files": self.store.files_to_load},
            "restore_problems": list(self.problems),
            "replaying": self.replaying,
            "read_again_without_callbacks": self.tails.read_again,
            "rebuilding": "all" if self.rebuilding is True else sorted(self.rebuilding or ()),
            "rounds": self.rounds,
            "failed_rounds": self.failed_rounds,
            "last_round": None
            if last is None
            else {
                "number": last.number,
                "stations_written": last.stations_written,
                "stations_changed": last.stations_changed,
                "stations_kept": last.stations_kept,
                "bytes": last.bytes_written,
                "write_seconds": last.seconds,
            },
            "capture_seconds": self.capture_seconds,
        }
