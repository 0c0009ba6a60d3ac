"""The consume loop gives triggered stations their turn after each batch, even when the consumer
hands over batches without awaiting anything (aiokafka does, for records it fetched before)."""

from __future__ import annotations

import orjson
from helpers import until

from d_a import AsyncDataAnalysisService

SEQ = "SITE-SEQ"
STATIONS = [f"S{i}" for i in range(10)]
MESSAGES = 5_000
CONFIG = {
    "topics": {SEQ: {"fields": ["seq"], "types": {"seq": "integer"}, "modules": ["seq_model"], "window_size": 10_000}},
    "module_dependencies": {},
    "service": {"backlog_runs": "every_batch"},
}


class Prefetched:
    """A consumer that fetches everything there is at once, then hands it over in batches of 500
    without awaiting (as aiokafka hands over records it already holds)."""

    def __init__(self, consumer) -> None:
        self._consumer = consumer
        self._batches: list[list] = []

    def __getattr__(self, name: str):
        return getattr(self._consumer, name)

    async def getmany(self, timeout_ms: int = 1000, max_records: int | None = None) -> list:
        if not self._batches:
            fetched = await self._consumer.getmany(timeout_ms, max_records=100_000)
            self._batches = [fetched[i : i + 500] for i in range(0, len(fetched), 500)]
            if not self._batches:
                return []
        return self._batches.pop(0)


async def test_stations_run_between_batches_handed_over_without_a_wait(transport, broker) -> None:
    for seq in range(MESSAGES):
        station = STATIONS[seq % len(STATIONS)]
        broker.produce(SEQ, orjson.dumps({"stationId": station, "seq": seq}), key=station.encode())
    seen_sizes: list[int] = []
    service = AsyncDataAnalysisService("seq_model", transport=transport, config=CONFIG)
    make_consumer = service.transport.async_consumer
    service.transport.async_consumer = lambda *args, **kwargs: Prefetched(make_consumer(*args, **kwargs))
    await service.start(lambda station, data: seen_sizes.append(len(data["seq_window"])))
    try:
        await until(
            lambda: service.get_service_status()["counters"]["messages"] == MESSAGES and service.engine.scheduler.idle
        )
    finally:
        await service.stop()
    per_station = MESSAGES // len(STATIONS)
    assert max(seen_sizes) == per_station  # every station ends up with all of its data
    assert min(seen_sizes) < per_station  # and some ran while the backlog was still being applied
