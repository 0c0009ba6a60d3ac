"""StateKeeper: a service's windows restored at start and checkpointed while it runs (d_a.state).

At start the windows come back from the last complete checkpoint round, with the offsets they
reflect. The consumer starts at the committed offsets, which never pass those of the last round
(the OffsetManager's ceiling), so what it reads below the round's offsets is in the windows
already: those messages are routed, not written (`split`), and their stations run on them as on
new data, so every message is still seen by a callback before it is committed. Every
`checkpoint_interval_seconds` a round copies the changed stations' windows (on the event loop,
between two fetches, so they reflect exactly the offsets fetched) and a thread writes them; when
the round is complete the ceiling moves up to its offsets. Stopping writes a last round before
the last commit, so a clean restart re-runs nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ..dispatcher import DataDispatcher
from ..kafka.message import KafkaMessage, TopicPartition
from ..kafka.offsets import OffsetManager
from ..state import CheckpointStore, RoundReport
from ..state.rounds import RoundTaker

__all__ = ["StateKeeper"]

logger = logging.getLogger("d_a.state")


class StateKeeper:
    """Restore at start, a checkpoint round every `interval` seconds, a last one at stop."""

    def __init__(self, store: CheckpointStore, dispatcher: DataDispatcher, interval: float) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.interval = interval
        self.taker = RoundTaker()
        self.restored_below: dict[TopicPartition, int] = {}  # messages below these are in the windows
        self.saved_offsets: dict[TopicPartition, int] = {}  # what the last complete round reflects
        self.restored = False
        self.restore_seconds: float | None = None
        self.restored_stations = 0
        self.problems: list[str] = []
        self.rounds = 0
        self.failed_rounds = 0
        self.last_round: RoundReport | None = None
        self.capture_seconds = 0.0  # on the event loop, summed over rounds
        self._writing: asyncio.Task[None] | None = None
        self._last_round_at = time.monotonic()

    # -- restore -----------------------------------------------------------------------------------

    async def restore(self, offsets: OffsetManager) -> None:
        """Load the last complete round into the dispatcher's windows and set `offsets`' ceiling."""
        started = time.perf_counter()
        restored = await asyncio.to_thread(self.store.load)
        self.dispatcher.restore_windows(restored.stations, restored.global_windows)
        with self.dispatcher.lock:
            self.taker.note_saved(self.dispatcher.windows)
        self.restored_below = dict(restored.offsets)
        self.saved_offsets = dict(restored.offsets)
        offsets.ceiling = self.saved_offsets
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
            logger.info("no checkpoint in %s: windows start empty", self.store.directory)

    def split(self, messages: list[KafkaMessage]) -> tuple[list[KafkaMessage], list[KafkaMessage]]:
        """(messages to write, messages the restored windows hold already)."""
        below = self.restored_below
        if not below:
            return messages, []
        fresh: list[KafkaMessage] = []
        held: list[KafkaMessage] = []
        for message in messages:
            tp = message.tp
            limit = below.get(tp)
            if limit is None:
                fresh.append(message)
            elif message.offset < limit:
                held.append(message)
            else:  # the partition is past what the windows hold: stop checking it
                del below[tp]
                fresh.append(message)
        return fresh, held

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

    async def abandon(self) -> None:
        """As a crash: a round being written is left unfinished (its thread still completes it)."""
        if self._writing is not None:
            self._writing.cancel()
            await asyncio.gather(self._writing, return_exceptions=True)

    async def _round(self, offsets: OffsetManager) -> None:
        try:
            started = time.perf_counter()
            positions = {**self.saved_offsets}
            for tp, offset in offsets.positions().items():
                positions[tp] = max(offset, positions.get(tp, offset))
            with self.dispatcher.lock:
                taken = self.taker.take(self.dispatcher.windows, positions)
            self.capture_seconds += time.perf_counter() - started
            try:
                report = await asyncio.to_thread(self.store.write, taken)
            except OSError as exc:
                self.failed_rounds += 1
                logger.warning(
                    "checkpoint round not written to %s (offsets stay where they are): %s", self.store.directory, exc
                )
                return
            self.taker.saved()
            self.saved_offsets = positions
            offsets.ceiling = positions
            self.rounds += 1
            self.last_round = report
            logger.debug(
                "checkpoint round %d: %d stations written, %d kept, %d bytes in %.2f s",
                report.number,
                report.stations_written,
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
            "rounds": self.rounds,
            "failed_rounds": self.failed_rounds,
            "last_round": None
            if last is None
            else {
                "number": last.number,
                "stations_written": last.stations_written,
                "stations_kept": last.stations_kept,
                "bytes": last.bytes_written,
                "write_seconds": last.seconds,
            },
            "capture_seconds": self.capture_seconds,
        }
