"""Station slots: Kafka's placement of station-keyed messages, and the group assignor sharing them."""

from __future__ import annotations

import orjson
import pytest
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata
from aiokafka.partitioner import DefaultPartitioner

from d_a.kafka.slots import StationSlotAssignor, copartition_problem, deal_slots, slot_of
from d_a.simulator import StationSimulator

TOPICS = ["SCHEDULE-CAR-ORDER", "SCHEDULE-DEVICE-GUN", "SCHEDULE-CAR-PRICE"]


class Cluster:
    """The one call an assignor makes of aiokafka's ClusterMetadata."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return set(range(self.counts[topic])) if topic in self.counts else None


def _member(assignor: StationSlotAssignor, topics: list[str]) -> ConsumerProtocolMemberMetadata:
    return assignor.metadata(topics)


def _slots(assignment) -> dict[str, list[int]]:
    return {topic: partitions for topic, partitions in assignment.assignment}


def test_a_station_s_slot_is_the_partition_kafka_s_default_partitioner_gives_its_key():
    stations = StationSimulator(stations=50, seed=3).station_ids
    for partitions in (1, 3, 6, 12):
        every = list(range(partitions))
        assert [slot_of(s, partitions) for s in stations] == [
            DefaultPartitioner()(s.encode(), every, every) for s in stations
        ]


def test_topics_with_different_partition_counts_are_named_with_their_counts():
    assert copartition_problem({"A": 6, "B": 6}) is None
    problem = copartition_problem({"SCHEDULE-CAR-ORDER": 6, "SCHEDULE-DEVICE-GUN": 3})
    assert "SCHEDULE-CAR-ORDER=6" in problem and "SCHEDULE-DEVICE-GUN=3" in problem


def test_every_member_gets_partition_p_of_every_topic_together_in_balanced_shares():
    assignors = {name: StationSlotAssignor() for name in ("m-a", "m-b", "m-c")}
    members = {name: _member(a, TOPICS) for name, a in assignors.items()}
    result = next(iter(assignors.values())).assign(Cluster(dict.fromkeys(TOPICS, 8)), members)
    owned = {}
    for member, assignment in result.items():
        slots = _slots(assignment)
        assert set(slots) == set(TOPICS)
        assert len({tuple(p) for p in slots.values()}) == 1  # the same partitions of every topic
        owned[member] = slots[TOPICS[0]]
    assert sorted(len(s) for s in owned.values()) == [2, 3, 3]
    assert sorted(p for s in owned.values() for p in s) == list(range(8))


def test_members_keep_their_slots_when_one_joins_and_when_one_leaves():
    first, second, third = StationSlotAssignor(), StationSlotAssignor(), StationSlotAssignor()
    cluster = Cluster(dict.fromkeys(TOPICS, 12))

    def rebalance(members: dict[str, StationSlotAssignor]) -> dict[str, list[int]]:
        metadata = {name: _member(a, TOPICS) for name, a in members.items()}
        result = first.assign(cluster, metadata)
        for name, assignor in members.items():
            assignor.on_assignment(result[name])
        return {name: _slots(result[name])[TOPICS[0]] for name in members}

    two = rebalance({"z-first": first, "a-second": second})
    three = rebalance({"z-first": first, "a-second": second, "m-third": third})
    assert sorted(len(s) for s in three.values()) == [4, 4, 4]
    for name in ("z-first", "a-second"):  # a joining member takes slots, nobody swaps any
        assert set(three[name]) <= set(two[name])
    again = rebalance({"z-first": first, "m-third": third})  # the second leaves
    assert set(three["z-first"]) <= set(again["z-first"]) and set(three["m-third"]) <= set(again["m-third"])
    assert sorted(again["z-first"] + again["m-third"]) == list(range(12))


def test_dealing_ignores_slots_claimed_twice_or_out_of_range():
    dealt = deal_slots(4, {"a": [0, 1, 9], "b": [1, 2]})
    assert dealt == {"a": [0, 1], "b": [2, 3]}


@pytest.mark.parametrize("user_data", [b"", b"not json", b"[1, 2]", orjson.dumps({"slots": "x"})])
def test_a_member_that_says_nothing_usable_about_its_slots_still_gets_its_share(user_data):
    members = {
        "a": ConsumerProtocolMemberMetadata(0, TOPICS, user_data),
        "b": StationSlotAssignor().metadata(TOPICS),
    }
    result = StationSlotAssignor().assign(Cluster(dict.fromkeys(TOPICS, 4)), members)
    assert sorted(len(_slots(a)[TOPICS[0]]) for a in result.values()) == [2, 2]


def test_with_unequal_partition_counts_a_topic_s_extra_slots_are_not_assigned_and_an_error_is_logged(caplog):
    counts = {"SCHEDULE-CAR-ORDER": 6, "SCHEDULE-DEVICE-GUN": 3, "SCHEDULE-CAR-PRICE": 6}
    members = {"a": StationSlotAssignor().metadata(TOPICS), "b": StationSlotAssignor().metadata(TOPICS)}
    with caplog.at_level("ERROR", logger="d_a.kafka"):
        result = StationSlotAssignor().assign(Cluster(counts), members)
    gun = sorted(p for a in result.values() for p in _slots(a)["SCHEDULE-DEVICE-GUN"])
    assert gun == [0, 1, 2]
    assert "not co-partitioned" in caplog.text
