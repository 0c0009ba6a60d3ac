"""Where a consumer reads a partition it was just assigned: the committed offset, unless its
owner chooses another (a service whose windows were restored reads from what they reflect)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from .message import TopicPartition

__all__ = [
    "AssignedPartition",
    "StartChooser",
    "assigned_partition",
    "choose_starts",
    "client_starts",
    "partitions_moved",
    "starts_unknown",
]

logger = logging.getLogger("d_a.kafka")

ClientPartition = TypeVar("ClientPartition", bound=Any)  # a client library's TopicPartition


@dataclass(frozen=True, slots=True)
class AssignedPartition:
    """What is known of a partition when it is assigned."""

    committed: int | None  # the group's committed offset (None: nothing committed yet)
    earliest: int  # the first offset the partition's log still holds
    position: int | None  # where the consumer reads from unless told otherwise (None: nowhere)
    since: int | None = None  # the first offset at or after the chooser's `since_ms` (None: not asked)


def assigned_partition(
    committed: int | None, earliest: int, latest: int, reset: str | None, since: int | None = None
) -> AssignedPartition:
    """The partition's facts, with the position its committed offset or `auto_offset_reset` gives."""
    if committed is not None:
        position: int | None = committed
    elif reset == "earliest":
        position = earliest
    elif reset == "latest" or reset is None:
        position = latest
    else:
        position = None
    return AssignedPartition(committed, earliest, position, since)


class StartChooser(Protocol):
    """Chooses where a consumer reads the partitions it is assigned, instead of their committed
    offsets (or `auto_offset_reset`) for some of them."""

    async def prepare(self, partitions: Sequence[TopicPartition]) -> None:
        """Before `choose_start`, when the async consumer is assigned `partitions`: load what
        choosing needs (a scaled-out service restores the windows of slots moving to it)."""
        ...

    def since_ms(self) -> int | None:
        """A time (ms) whose first offset per partition the chooser wants to know, or None."""
        ...

    def choose_start(self, assigned: Mapping[TopicPartition, AssignedPartition]) -> Mapping[TopicPartition, int]:
        """Given the partitions just assigned, the offsets to read some of them from."""
        ...

    def partitions_lost(self, partitions: Sequence[TopicPartition]) -> None:
        """`partitions` moved to another member of the group: this consumer reads them no more."""
        ...


def choose_starts(
    chooser: StartChooser | None, assigned: Mapping[TopicPartition, AssignedPartition]
) -> Mapping[TopicPartition, int]:
    """`chooser`'s offsets for `assigned` ({} without a chooser, or when it raised: logged)."""
    if chooser is None or not assigned:
        return {}
    try:
        return chooser.choose_start(assigned)
    except Exception:
        logger.exception("choosing where to read %d assigned partitions failed: committed offsets used", len(assigned))
        return {}


def client_starts(
    chooser: StartChooser,
    partitions: Sequence[ClientPartition],
    committed: Mapping[ClientPartition, int | None],
    earliest: Mapping[ClientPartition, int],
    latest: Mapping[ClientPartition, int],
    reset: str | None,
    since: Mapping[ClientPartition, Any] | None = None,
) -> list[tuple[ClientPartition, int]]:
    """For a client's rebalance listener: its partitions to seek, and where, as `chooser` says.
    `since` is the client's `offsets_for_times` answer (an entry of None: no message that late)."""
    found = {
        TopicPartition(tp.topic, tp.partition): assigned_partition(
            committed[tp], earliest[tp], latest[tp], reset, None if since is None else _offset_at(since, tp, latest)
        )
        for tp in partitions
    }
    chosen = choose_starts(chooser, found)
    return [(tp, chosen[key]) for tp in partitions if (key := TopicPartition(tp.topic, tp.partition)) in chosen]


def _offset_at(since: Mapping[ClientPartition, Any], tp: ClientPartition, latest: Mapping[ClientPartition, int]) -> int:
    found = since.get(tp)
    return latest[tp] if found is None else int(found.offset)


def starts_unknown(problem: Exception) -> None:
    """A listener could not ask where to start: the consumer reads from the committed offsets."""
    logger.warning("assigned partitions read from their committed offsets (asking where to start failed: %s)", problem)


def partitions_moved(moved: Sequence[TopicPartition], chooser: StartChooser | None) -> None:
    """A listener found `moved` given to another member: logged once, and `chooser` told."""
    if not moved:
        return
    logger.info(
        "partitions %s moved to another member of the group, which reads them from their last commit",
        ", ".join(f"{tp.topic}[{tp.partition}]" for tp in moved),
    )
    if chooser is not None:
        chooser.partitions_lost(moved)
