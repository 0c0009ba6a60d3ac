"""A bad field is that field's problem: for every typed field of every topic (and its time field),
a wrong value in that field alone keeps the record's other fields, counted once under its kind."""

from __future__ import annotations

import copy

import pytest

from d_a.config import load_config
from d_a.topics.realtime_data import GUN_LISTS, GUN_POWER

NOW = 1_762_000_000.0
WRONG = {
    "number": "x",
    "integer": 1.5,
    "string": 7,
    "id": 2.5,
    "ids": {"H1": True},
    "bool": "yes",
    "numbers": ["x"],
    "list": "x",
    "object": 3,
    "time": {"at": "noon"},
}
CASES = [
    (topic, field, WRONG[kind])
    for topic, config in load_config().topics.items()
    if config.parser != "module_output"  # a module output's time is its upload time when unreadable
    for field, kind in [*config.types.items(), (config.time_field, "time")]
    if kind in WRONG and field != "stationId" and field not in config.aliases  # an alias takes its twin's value
]


def first_record(message: dict, envelope: str | None) -> dict:
    items = message[envelope] if envelope else message
    return items[0] if isinstance(items, list) else items


@pytest.mark.parametrize(("topic", "field", "wrong"), CASES, ids=[f"{t}.{f}" for t, f, _ in CASES])
def test_a_wrong_value_in_one_field_keeps_the_rest(parsers, feed, config, topic, field, wrong) -> None:
    if topic != "SCHEDULE-STATION-PARAM":
        parsers["SCHEDULE-STATION-PARAM"].accepted(
            parsers["SCHEDULE-STATION-PARAM"].station_records(feed["SCHEDULE-STATION-PARAM"][0], NOW).records
        )
    topic_config = config.topics[topic]
    sample = next((m for m in feed[topic] if f"'{field}'" in str(m)), feed[topic][0])
    message = copy.deepcopy(sample)
    raw = first_record(message, topic_config.envelope)
    holder = raw[GUN_POWER] if field in GUN_LISTS and GUN_POWER in raw else raw
    clean = parsers[topic].station_records(copy.deepcopy(message), NOW).records[0].record
    holder[field] = wrong

    result = parsers[topic].station_records(message, NOW)

    kept = result.records[0].record
    assert [(p.kind, p.field) for p in result.problems] == [("wrong_type", field)]
    assert result.problems[0].field_only
    gone = {field, *(a for a, b in topic_config.aliases.items() if b == field), topic_config.aliases.get(field)}
    assert field not in kept
    assert kept == {k: v for k, v in clean.items() if k not in gone}
