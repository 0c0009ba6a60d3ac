"""The dead-letter topic: bad messages passed on unchanged, offsets held until they are, failing stations."""

from __future__ import annotations

import orjson
import pytest
from helpers import until, wait_for
from service_helpers import publish

from d_a import AsyncDataAnalysisService, DataAnalysisService
from d_a.errors import ConfigError
from d_a.kafka import KafkaMessage
from d_a.metrics import ServiceMetrics
from d_a.simulator import FaultConfig, StationSimulator

DLQ = "D_A-DEAD-LETTER"
BAD_INPUT_FAULTS = {
    "malformed_json": "not_json",
    "nan_value": "not_json",
    "wrong_shape": "wrong_shape",
    "missing_id": "missing_id",
    "wrong_type": "wrong_type",
    "huge_array": "too_large",
}
SEQ_CONFIG = {
    "topics": {
        "SITE-SEQ": {"fields": ["seq"], "types": {"seq": "integer"}, "modules": ["seq_model"], "window_size": 5000}
    },
    "module_dependencies": {},
    "offset_commit": {"commit_interval_seconds": 0.05, "commit_batch_size": 1},
    "service": {"dead_letter_topic": DLQ},
}


def headers(letter: KafkaMessage) -> dict[str, str]:
    return {name: value.decode() for name, value in letter.headers}


async def test_every_bad_message_reaches_the_dead_letter_topic_unchanged(transport, broker) -> None:
    sim = StationSimulator(
        stations=4, seed=3, history_hours=1, faults=FaultConfig(rate=0.15, kinds=tuple(BAD_INPUT_FAULTS))
    )
    service = AsyncDataAnalysisService(
        "operation_optimization", transport=transport, config={"service": {"dead_letter_topic": DLQ}}
    )
    messages = [m for m in sim.initial_messages() + sim.advance(120) if m.topic in service.topics]
    faulted = [m for m in messages if m.fault is not None]
    assert {m.fault for m in faulted} == set(BAD_INPUT_FAULTS)
    calls: list[str] = []
    await service.start(lambda station, data: calls.append(station))
    try:
        for m in messages:
            broker.produce(m.topic, m.value, key=m.key, headers=[("trace", b"t-1")])
        await until(lambda: service.get_service_status()["counters"]["dead_letters"] >= len(faulted))
        status = service.get_service_status()
    finally:
        await service.stop()

    letters = broker.messages(DLQ)
    assert sorted((m.value, m.key) for m in faulted) == sorted((letter.raw, letter.key) for letter in letters)
    by_value = {m.value: m for m in faulted}
    for letter in letters:
        found = headers(letter)
        source = by_value[letter.raw]
        assert found["d_a.topic"] == source.topic
        assert found["d_a.kind"] == BAD_INPUT_FAULTS[source.fault]
        assert found["d_a.error"] and found["d_a.module"] == "operation_optimization"
        assert found["trace"] == "t-1"  # the message's own headers are kept
        original = broker._logs[source.topic][int(found["d_a.partition"])][int(found["d_a.offset"])]
        assert original[2] == letter.raw
    wrong_type = [headers(x) for x in letters if headers(x)["d_a.kind"] == "wrong_type"]
    assert wrong_type and all(h["d_a.dropped"] == "field" for h in wrong_type)  # the record was kept without it
    assert status["dead_letters"]["waiting"] == 0 and status["counters"]["callback_errors"] == 0
    assert calls  # the clean data kept flowing
    registry = ServiceMetrics(lambda: status).registry
    assert registry.get_sample_value("d_a_dead_letters_total") == len(faulted)


async def test_a_station_failing_again_and_again_is_reported_once_per_streak(transport, broker) -> None:
    fail = {"S1": True}

    def model(station: str, data: dict) -> dict:
        if fail.get(station):
            raise ValueError(f"model cannot use seq {data['seq']}")
        return {"ok": True}

    config = {**SEQ_CONFIG, "service": {"dead_letter_topic": DLQ, "dead_letter_after_failures": 3}}
    service = AsyncDataAnalysisService("seq_model", transport=transport, config=config)
    await service.start(model)
    try:
        for seq in range(5):
            publish(broker, "SITE-SEQ", {"stationId": "S1", "seq": seq}, key="S1")
            publish(broker, "SITE-SEQ", {"stationId": "S2", "seq": seq}, key="S2")
            await until(lambda seq=seq: service.get_station_status().get("S1", {}).get("errors", 0) > seq)
        await until(lambda: service.get_service_status()["counters"]["dead_letters"] == 1)
        status = service.get_service_status()
        assert set(status["failing_stations"]) == {"S1"}
        assert status["failing_stations"]["S1"]["failures_in_row"] == 5
        assert ServiceMetrics(service.get_service_status).registry.get_sample_value("d_a_failing_stations") == 1
        assert "model cannot use seq" in status["failing_stations"]["S1"]["last_error"]

        fail["S1"] = False
        publish(broker, "SITE-SEQ", {"stationId": "S1", "seq": 5}, key="S1")
        await until(lambda: service.get_station_status()["S1"]["failures_in_row"] == 0)
        assert service.get_service_status()["failing_stations"] == {}
    finally:
        await service.stop()
    (letter,) = broker.messages(DLQ)
    assert letter.key == b"S1" and headers(letter)["d_a.kind"] == "callback_failed"
    summary = orjson.loads(letter.raw)
    assert summary["station_id"] == "S1" and summary["failures_in_row"] == 3
    assert summary["error"].startswith("ValueError: model cannot use seq 2")
    assert summary["input"]["seq"] == 2 and summary["input"]["seq_window"] == {"type": "list", "length": 3}


def test_the_thread_based_service_dead_letters_too(transport, broker) -> None:
    service = DataAnalysisService("seq_model", transport=transport, config=SEQ_CONFIG)
    service.start(lambda station, data: None, background=True)
    try:
        broker.produce("SITE-SEQ", b'{"stationId": "S9", "seq": "seven"}', key=b"S9")
        wait_for(lambda: service.get_service_status()["counters"]["dead_letters"] == 1)
    finally:
        service.stop()
    (letter,) = broker.messages(DLQ)
    assert headers(letter)["d_a.kind"] == "wrong_type" and headers(letter)["d_a.dropped"] == "field"


def test_dead_letter_topic_must_be_a_topic_of_its_own() -> None:
    with pytest.raises(ConfigError, match="service.dead_letter_topic: 'SITE-SEQ'"):
        AsyncDataAnalysisService(
            "seq_model", transport="memory", config={**SEQ_CONFIG, "service": {"dead_letter_topic": "SITE-SEQ"}}
        )
