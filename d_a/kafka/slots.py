"""Station slots: how a scaled-out consumer group shares the stations.

A station's slot is the partition its id goes to under Kafka's default partitioner (murmur2 of
the UTF-8 id), so a producer keying messages by station id puts all of a station's data in
partition `slot` of every topic, provided the topics have the same partition count
(co-partitioned, as Kafka Streams requires of joined topics). `StationSlotAssignor` gives each
member of the group whole slots, partition p of every topic together, balanced, and keeps a
member's slots where it can when members come and go, so as few stations as possible move.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import orjson
from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata
from aiokafka.partitioner import murmur2

__all__ = ["StationSlotAssignor", "copartition_problem", "deal_slots", "slot_of"]

logger = logging.getLogger("d_a.kafka")


def slot_of(station: str, slots: int) -> int:
    """The partition Kafka's default partitioner gives a message keyed by `station`."""
    return (murmur2(station.encode()) & 0x7FFFFFFF) % slots


def copartition_problem(partition_counts: Mapping[str, int]) -> str | None:
    """Why these topics cannot share stations by slot (different partition counts), or None."""
    if len(set(partition_counts.values())) <= 1:
        return None
    counts = ", ".join(f"{topic}={count}" for topic, count in sorted(partition_counts.items()))
    return (
        f"topics not co-partitioned: {counts}; a scaled-out service needs the same partition count for all its "
        "topics (a station's data goes to one partition number of each topic)"
    )


class StationSlotAssignor(AbstractPartitionAssignor):
    """aiokafka's `partition_assignment_strategy` for a scaled-out service: members get slots
    (partition p of every subscribed topic), `ceil` or `floor` of slots / members each, and keep
    the slots they had (sent as user data when they join) up to that share. An instance per
    consumer: it remembers the slots of its own last assignment."""

    name = "d_a-station-slots"
    version = 0

    def __init__(self) -> None:
        self.owned: list[int] = []

    def metadata(self, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:  # type: ignore[override]
        return ConsumerProtocolMemberMetadata(self.version, sorted(topics), orjson.dumps({"slots": self.owned}))

    def on_assignment(self, assignment: ConsumerProtocolMemberAssignment) -> None:  # type: ignore[override]
        self.owned = sorted({p for _, partitions in assignment.assignment for p in partitions})

    def assign(  # type: ignore[override]
        self, cluster: ClusterMetadata, members: Mapping[str, ConsumerProtocolMemberMetadata]
    ) -> dict[str, ConsumerProtocolMemberAssignment]:
        counts = {
            topic: len(cluster.partitions_for_topic(topic) or ())
            for metadata in members.values()
            for topic in metadata.subscription
        }
        problem = copartition_problem(counts)
        if problem is not None:
            logger.error("%s: stations of the higher partitions get only some of their topics", problem)
        slots = max(counts.values(), default=0)
        shares = deal_slots(slots, {member: _previous_slots(m.user_data) for member, m in members.items()})
        return {
            member: ConsumerProtocolMemberAssignment(
                self.version,
                [
                    (topic, [slot for slot in shares[member] if slot < counts[topic]])
                    for topic in sorted(metadata.subscription)
                    if counts.get(topic)
                ],
                b"",
            )
            for member, metadata in members.items()
        }


def deal_slots(slots: int, previous: Mapping[str, list[int]]) -> dict[str, list[int]]:
    """Slots 0..`slots`-1 shared out among the members, balanced, each keeping as many of its
    `previous` slots as its share allows (members with more previous slots get the larger shares)."""
    members = sorted(previous)
    if not members:
        return {}
    base, extra = divmod(slots, len(members))
    by_claim = sorted(members, key=lambda m: (-len(previous[m]), m))
    share = {member: base + (1 if rank < extra else 0) for rank, member in enumerate(by_claim)}
    dealt: dict[str, list[int]] = {member: [] for member in members}
    taken: set[int] = set()
    for member in by_claim:
        for slot in sorted(set(previous[member])):
            if 0 <= slot < slots and slot not in taken and len(dealt[member]) < share[member]:
                dealt[member].append(slot)
                taken.add(slot)
    free = [slot for slot in range(slots) if slot not in taken]
    for member in members:
        while len(dealt[member]) < share[member]:
            dealt[member].append(free.pop(0))
    return {member: sorted(found) for member, found in dealt.items()}


def _previous_slots(user_data: bytes) -> list[int]:
    """The slots a member says it had (nothing from a member of another kind or version)."""
    try:
        found = orjson.loads(user_data or b"{}").get("slots", [])
    except (orjson.JSONDecodeError, AttributeError):
        return []
    return [slot for slot in found if isinstance(slot, int)] if isinstance(found, list) else []
