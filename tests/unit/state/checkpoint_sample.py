"""The sample checkpoint of test_format.py: `python tests/unit/state/checkpoint_sample.py` writes it for the
current STATE_FORMAT (after a bump of the format; a sample of an older format stays as it is)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from d_a import DataDispatcher
from d_a.kafka import TopicPartition
from d_a.simulator import StationSimulator
from d_a.state import STATE_FORMAT, CheckpointStore
from d_a.state.rounds import RoundTaker

DATA = Path(__file__).parent / "data"
OFFSETS = {TopicPartition("SCHEDULE-CAR-ORDER", 1): 1234}


def sample_rounds() -> Iterator[DataDispatcher]:
    """The windows at each round of the sample: the simulator's first 40 s for two stations, then
    20 s more (the second round saves their changes); the same dispatcher each time."""
    dispatcher = DataDispatcher()
    simulator = StationSimulator(stations=2, seed=11, history_hours=6)
    for messages in (simulator.initial_messages() + simulator.advance(40), simulator.advance(20)):
        for message in messages:
            dispatcher.ingest(message.topic, orjson.loads(message.value))
        yield dispatcher


def sample_dispatcher() -> DataDispatcher:
    """What the sample holds."""
    *_, dispatcher = sample_rounds()
    return dispatcher


def sample_dir(version: int = STATE_FORMAT) -> Path:
    return DATA / f"format-{version}"


if __name__ == "__main__":
    store = CheckpointStore(sample_dir(), sync=False)
    store.clear()
    taker = RoundTaker(whole_every=8)
    for number, dispatcher in enumerate(sample_rounds(), 1):
        store.write(taker.take(dispatcher.windows, OFFSETS, number))
        taker.saved()
    print(f"wrote {sample_dir()}")
