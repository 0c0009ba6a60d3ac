"""SlotStates: the checkpoints of a scaled-out service, one directory per slot.

Under `scale_out` with `state_dir`, the stations of each slot are checkpointed in
`state_dir/<group>/slot-<p>/` by a StateKeeper of their own. A slot given to this instance is
restored from its directory before its partitions are read (the consumer waits for `gain`), and
its partitions are then read from that round's offsets, as after a restart; without a usable
checkpoint the slot is rebuilt from `restore_horizon_seconds` of Kafka's messages. Instances that
share the volume (the workers of one host, pods on a shared volume) so hand windows over through
it. A slot taken away is written no more: its owner lock (an exclusive `flock` on `slot-<p>/.owner`)
is given up once a round being written has finished, and the next owner waits for it before it
reads the directory.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..config.schema import ServiceConfig
from ..dispatcher import DataDispatcher
from ..kafka.assignment import AssignedPartition
from ..kafka.message import TopicPartition
from ..kafka.offsets import OffsetManager
from ..kafka.slots import slot_of
from ..state import CheckpointStore
from .checkpointing import SlotScope, StateKeeper
from .tails import Tails

__all__ = ["SlotLock", "SlotStates"]

logger = logging.getLogger("d_a.state")

LOCK_WAIT_SECONDS = 30.0  # how long a new owner waits for the previous one to let go of a slot


class SlotLock:
    """An exclusive `flock` on a slot directory's `.owner` file: one writer per slot."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / ".owner"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def acquire(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the lock; whether it is held."""
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.1)
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class _Stations:
    """`in`: a station whose slot's keeper says so (`pick`: the keeper's stations, or True for all)."""

    def __init__(self, states: SlotStates, pick: Callable[[StateKeeper], bool | set[str]]) -> None:
        self.states, self.pick = states, pick

    def __contains__(self, station: object) -> bool:
        if not isinstance(station, str) or not self.states.slots:
            return False
        keeper = self.states.keepers.get(slot_of(station, self.states.slots))
        if keeper is None:
            return False
        chosen = self.pick(keeper)
        return chosen is True or (isinstance(chosen, set) and station in chosen)


class SlotStates:
    """A StateKeeper per owned slot, and what the engine asks of its state (rounds, stop, status)."""

    def __init__(
        self,
        directory: Path,
        dispatcher: DataDispatcher,
        service: ServiceConfig,
        tails: Tails,
        offsets: Callable[[], OffsetManager],
        slots: int,
    ) -> None:
        self.directory = directory
        self.dispatcher = dispatcher
        self.service = service
        self.tails = tails
        self._offsets = offsets
        self.slots = slots
        self.keepers: dict[int, StateKeeper] = {}
        self._locks: dict[int, SlotLock] = {}
        self._letting_go: set[asyncio.Task[None]] = set()
        self.restored = True  # nothing is restored at start: slots are, when they are given
        self.gained = 0

    # -- slots coming and going --------------------------------------------------------------------

    async def gain(self, slots: Iterable[int]) -> None:
        """Restore the windows of `slots` from their directories (each once its owner lock is free)."""
        for slot in sorted(set(slots) - self.keepers.keys()):
            directory = self.directory / f"slot-{slot}"
            lock = SlotLock(directory)
            if not await lock.acquire(LOCK_WAIT_SECONDS):
                logger.warning(
                    "slot %d: %s is still locked by its previous owner after %g s: restored as it is, "
                    "and written once the lock is free",
                    slot,
                    directory,
                    LOCK_WAIT_SECONDS,
                )
            keeper = StateKeeper(
                CheckpointStore(directory),
                self.dispatcher,
                self.service.checkpoint_interval_seconds,
                self.service.restore_horizon_seconds,
                self.service.checkpoint_whole_every,
                tails=self.tails,
                scope=SlotScope(slot, self.slots),
            )
            await keeper.restore(self._offsets())
            self.keepers[slot] = keeper
            self._locks[slot] = lock
            self.gained += 1

    def choose_start(self, assigned: Mapping[TopicPartition, AssignedPartition]) -> dict[TopicPartition, int]:
        """Where each slot's keeper reads its newly assigned partitions."""
        by_slot: dict[int, dict[TopicPartition, AssignedPartition]] = {}
        for tp, found in assigned.items():
            by_slot.setdefault(tp.partition, {})[tp] = found
        starts: dict[TopicPartition, int] = {}
        for slot, part in by_slot.items():
            keeper = self.keepers.get(slot)
            if keeper is not None:
                starts.update(keeper.choose_start(part))
        return starts

    def owns_state(self, slot: int) -> bool:
        return slot in self.keepers

    def lose(self, slots: Iterable[int]) -> None:
        """Stop writing `slots`; their locks go once a round being written has finished."""
        for slot in slots:
            keeper, lock = self.keepers.pop(slot, None), self._locks.pop(slot, None)
            if keeper is not None and lock is not None:
                task = asyncio.create_task(self._let_go(keeper, lock), name=f"d_a-slot-{slot}-let-go")
                self._letting_go.add(task)
                task.add_done_callback(self._letting_go.discard)

    @staticmethod
    async def _let_go(keeper: StateKeeper, lock: SlotLock) -> None:
        await keeper.finish_writing()
        lock.release()

    # -- what the engine asks of its state --------------------------------------------------------------

    async def restore(self, offsets: OffsetManager) -> None:
        logger.info("scale-out checkpoints: one directory per slot in %s, restored as slots are given", self.directory)

    def due(self) -> bool:
        return any(keeper.due() for keeper in self.keepers.values())

    def start_round(self, offsets: OffsetManager) -> None:
        for slot, keeper in self.keepers.items():
            if keeper.due() and self._locks[slot].try_acquire():
                keeper.start_round(offsets)

    async def final_round(self, offsets: OffsetManager) -> None:
        """At stop: a last round of every slot whose lock is held, then every lock given up."""
        for slot, keeper in self.keepers.items():
            if self._locks[slot].try_acquire():
                await keeper.final_round(offsets)
        await self._release_all()

    async def abandon(self) -> None:
        for keeper in self.keepers.values():
            await keeper.abandon()
        await self._release_all()

    async def _release_all(self) -> None:
        await asyncio.gather(*self._letting_go, return_exceptions=True)
        for lock in self._locks.values():
            lock.release()

    @property
    def replaying(self) -> bool:
        return self.tails.replaying

    @property
    def rebuilt_stations(self) -> _Stations:
        return _Stations(self, lambda keeper: keeper.rebuilding)

    @property
    def routed_stations(self) -> _Stations:
        return _Stations(self, lambda keeper: keeper.damaged or False)

    def status(self) -> dict[str, Any]:
        slots = {slot: keeper.status() for slot, keeper in sorted(self.keepers.items())}
        last = [s["last_round"] for s in slots.values() if s["last_round"] is not None]
        return {
            "directory": str(self.directory),
            "restored": True,
            "restored_stations": sum(s["restored_stations"] for s in slots.values()),
            "restore_seconds": sum(s["restore_seconds"] or 0.0 for s in slots.values()),
            "restore_problems": [p for s in slots.values() for p in s["restore_problems"]],
            "replaying": self.replaying,
            "read_again_without_callbacks": self.tails.read_again,
            "rounds": sum(s["rounds"] for s in slots.values()),
            "failed_rounds": sum(s["failed_rounds"] for s in slots.values()),
            "last_round": max(last, key=lambda r: r["number"]) if last else None,
            "capture_seconds": sum(s["capture_seconds"] for s in slots.values()),
            "slots_restored": self.gained,
            "slots": {str(slot): _summary(s) for slot, s in slots.items()},
        }


def _summary(status: Mapping[str, Any]) -> dict[str, Any]:
    return {key: status[key] for key in ("restored_stations", "restore_seconds", "rounds", "rebuilding")}
