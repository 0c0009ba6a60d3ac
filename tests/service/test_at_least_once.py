"""At-least-once as the user sees it: an offset is committed only once the callbacks have seen its
message's data (or, for a bad message, the dead-letter topic has it), so every message's data
reaches a callback across an unclean restart, and a clean stop commits what was seen."""

from __future__ import annotations

import asyncio

from helpers import until

from d_a.cli.dead_letters import letter_headers
from d_a.errors import KafkaConnectionError
from d_a.service import AsyncDataAnalysisService

SEQ = "SITE-SEQ"
METER = "SCHEDULE-DEVICE-METER"
DLQ = "D_A-DEAD-LETTER"
POISON = b'{"stationId": "S1", "seq": 1, '  # cut short: not JSON
CONFIG = {
    "topics": {SEQ: {"fields": ["seq"], "modules": ["seq_model"], "window_size": 5000}},
    "module_dependencies": {},
    "offset_commit": {"commit_interval_seconds": 0.05, "commit_batch_size": 10},
}
DEAD_LETTER_CONFIG = {
    "topics": {SEQ: {"fields": ["seq"], "types": {"seq": "integer"}, "modules": ["seq_model"], "window_size": 5000}},
    "module_dependencies": {},
    "offset_commit": {"commit_interval_seconds": 0.05, "commit_batch_size": 1},
    "service": {"dead_letter_topic": DLQ},
}


def seqs(numbers: range, stations: int = 7) -> list[tuple[str, dict]]:
    """(key, value) of SITE-SEQ messages, spread over `stations` stations."""
    return [(f"S{seq % stations}", {"stationId": f"S{seq % stations}", "seq": seq}) for seq in numbers]


async def crash(service: AsyncDataAnalysisService) -> None:
    """Stop like a killed process: no final commit, no batch flush, running callbacks abandoned."""
    assert service.engine is not None
    await service.engine.abort()
    service.engine = None


async def test_every_message_reaches_a_callback_across_an_unclean_restart(transport) -> None:
    seen: set[int] = set()
    running = asyncio.Event()  # cleared: callbacks hang, as a stuck model would when the process dies

    async def model(station_id, module_input):
        await running.wait()
        seen.update(module_input["seq_window"])

    def service() -> AsyncDataAnalysisService:
        return transport.async_service("seq_model", config=CONFIG, group_id="seq")

    await transport.publish_many(SEQ, seqs(range(100)))  # a backlog before the first start
    first = service()
    running.set()
    await first.start(model)
    try:
        await transport.publish_many(SEQ, seqs(range(100, 300)))
        await until(
            lambda: len(seen) >= 200 and first.get_service_status()["offsets_committed"] > 0, transport.deadline
        )
        running.clear()
        await transport.publish_many(SEQ, seqs(range(300, 600)))
        await until(lambda: first.get_service_status()["counters"]["messages"] >= 600, transport.deadline)
    finally:
        await crash(first)
    before_restart = set(seen)
    await transport.publish_many(SEQ, seqs(range(600, 1000)))
    second = service()
    running.set()
    await second.start(model)
    try:
        await until(lambda: seen >= set(range(1000)), transport.deadline)
    finally:
        await second.stop()
    assert len(before_restart) < 1000  # the crash really cut the stream
    assert not before_restart >= set(range(300, 600))  # consumed, but no callback had seen them
    assert seen >= set(range(1000))


async def test_a_clean_stop_commits_so_a_restart_replays_nothing_seen(transport) -> None:
    runs: list[list[int]] = []

    async def model(station_id, module_input):
        runs.append(list(module_input["seq_window"]))

    service = transport.async_service("seq_model", config=CONFIG, group_id="clean")
    await service.start(model)
    await transport.publish_many(SEQ, seqs(range(20), stations=1))
    await until(lambda: runs and runs[-1][-1:] == [19], transport.deadline)
    await service.stop()

    replayed: list[list[int]] = []
    again = transport.async_service("seq_model", config=CONFIG, group_id="clean")
    await again.start(lambda s, data: replayed.append(data["seq_window"]))
    await asyncio.sleep(0.5)
    await again.stop()
    assert replayed == []


async def test_offsets_are_committed_only_after_the_callback_finished(transport) -> None:
    release = asyncio.Event()
    seen = []

    async def model(station_id, module_input):
        await release.wait()
        seen.append(station_id)

    service = transport.async_service(
        "operation_optimization", config={"offset_commit": {"commit_interval_seconds": 0.05}}
    )
    await service.start(model)
    try:
        await transport.publish(METER, {"stationId": "S1", "meterPower": 1.0}, key="S1")
        partition = next(p for p, end in (await transport.end_offsets(METER)).items() if end)
        await asyncio.sleep(0.5)
        committed = await transport.committed(service, METER)
        assert committed[partition] in (None, 0)  # the callback is still running: not committed past it
        assert service.get_service_status()["running_callbacks"] == 1
        release.set()

        async def committed_past_it() -> bool:
            return (await transport.committed(service, METER))[partition] == 1

        await until(committed_past_it, transport.deadline, interval=0.05)
        assert service.get_service_status()["running_callbacks"] == 0
    finally:
        await service.stop()
    assert seen == ["S1"]


class FailingDeadLetters:
    """The service's dead-letter producer, failing while `failing` is set as a producer does when
    its topic cannot be written (KafkaConnectionError)."""

    def __init__(self, service: AsyncDataAnalysisService) -> None:
        assert service.engine is not None and service.engine.dead_letters is not None
        self.queue = service.engine.dead_letters
        self.producer, self.queue.producer = self.queue.producer, self
        self.failing = True

    async def send(self, topic, value, key=None, *, headers=()):
        if self.failing and topic == self.queue.topic:
            raise KafkaConnectionError(f"produce to {topic} failed (injected fault)")
        await self.producer.send(topic, value, key, headers=headers)


async def test_the_offset_of_a_bad_message_waits_for_its_dead_letter(transport) -> None:
    seen: list[int] = []
    service = transport.async_service("seq_model", config=DEAD_LETTER_CONFIG, group_id="g")
    await service.start(lambda station, data: seen.extend(data["seq_window"][len(seen) :]))
    dead_letters = FailingDeadLetters(service)  # the dead-letter topic cannot be written
    try:
        await transport.publish(SEQ, {"stationId": "S1", "seq": 0}, key="S1")
        await transport.publish(SEQ, POISON, key="S1", headers=[("trace", b"abc")])  # offset 1
        await transport.publish_many(SEQ, [("S1", {"stationId": "S1", "seq": seq}) for seq in (2, 3)])
        (partition,) = [p for p, end in (await transport.end_offsets(SEQ)).items() if end]

        async def committed_up_to_the_poison() -> bool:
            return (await transport.committed(service, SEQ))[partition] == 1

        await until(lambda: seen == [0, 2, 3], transport.deadline)
        await until(committed_up_to_the_poison, transport.deadline, interval=0.05)
        lag = service.get_service_status()["lag"][transport.topic(SEQ)]
        assert [p for p, info in lag.items() if info["end_offset"] == 4] == [partition]  # the key's partition
        await asyncio.sleep(1.0)  # commits every 0.05 s: none may pass the poison while its letter waits
        assert (await transport.committed(service, SEQ))[partition] == 1
        assert service.get_service_status()["dead_letters"]["waiting"] == 1

        dead_letters.failing = False  # the topic is back: the letter is sent, then the offsets move on

        async def committed_past_the_poison() -> bool:
            return (await transport.committed(service, SEQ))[partition] == 4

        await until(committed_past_the_poison, transport.deadline, interval=0.05)
        status = service.get_service_status()
    finally:
        await service.stop()
    (letter,) = await transport.messages(DLQ)
    headers = letter_headers(letter)
    assert letter.raw == POISON and letter.key == b"S1"
    assert (headers["topic"], headers["partition"], headers["offset"]) == (transport.topic(SEQ), str(partition), "1")
    assert headers["kind"] == "not_json" and headers["dropped"] == "message" and "JSON" in headers["error"]
    assert dict(letter.headers)["trace"] == b"abc"  # the message's own headers are kept
    assert status["dead_letters"]["send_errors"] >= 1 and status["dead_letters"]["waiting"] == 0


async def test_a_stop_while_the_dead_letter_topic_fails_leaves_the_bad_message_to_the_next_start(transport) -> None:
    config = {**DEAD_LETTER_CONFIG, "service": {"dead_letter_topic": DLQ, "stop_timeout": 0.5}}
    service = transport.async_service("seq_model", config=config, group_id="g")
    await service.start(lambda station, data: None)
    FailingDeadLetters(service)
    await transport.publish(SEQ, b"not json", key="S1")
    await until(lambda: service.get_service_status()["dead_letters"]["send_errors"] >= 1, transport.deadline)
    await service.stop()
    assert set((await transport.committed(service, SEQ)).values()) <= {None, 0}

    again = transport.async_service("seq_model", config=config, group_id="g")
    await again.start(lambda station, data: None)

    async def one_letter() -> bool:
        return len(await transport.messages(DLQ)) == 1

    async def committed_past_it() -> bool:
        return 1 in (await transport.committed(again, SEQ)).values()

    try:
        await until(one_letter, transport.deadline, interval=0.1)
        await until(committed_past_it, transport.deadline, interval=0.05)
    finally:
        await again.stop()
