"""Service settings given as keywords or in the config: one knob for concurrency (`max_workers`,
formerly `max_concurrency`), and a wrong keyword is an error, never ignored."""

from __future__ import annotations

import asyncio

import pytest
from helpers import until

from d_a import AsyncDataAnalysisService, DataAnalysisService
from d_a.errors import ConfigError
from d_a.simulator import StationSimulator

REALTIME = "SCHEDULE-STATION-REALTIME-DATA"


async def most_callbacks_at_once(service: AsyncDataAnalysisService, broker, stations: int) -> int:
    """Start `service` with a callback that waits, feed `stations` stations, and count how many
    callbacks ran at the same time."""
    running: set[str] = set()
    most = 0
    go = asyncio.Event()

    async def model(station_id, module_input):
        nonlocal most
        running.add(station_id)
        most = max(most, len(running))
        await go.wait()
        running.discard(station_id)

    await service.start(model)
    try:
        simulator = StationSimulator(stations=stations, seed=3, topics=[REALTIME], history_hours=2)
        for message in simulator.initial_messages():
            broker.produce(message.topic, message.value, key=message.key)
        await until(lambda: len(running) >= min(stations, service.max_workers))
        await asyncio.sleep(0.2)  # room for more callbacks to start, were they allowed to
        go.set()
        return most
    finally:
        go.set()
        await service.stop()


async def test_max_workers_bounds_the_callbacks_that_run_at_once(transport, broker) -> None:
    service = AsyncDataAnalysisService("load_prediction", transport=transport, max_workers=3)
    assert await most_callbacks_at_once(service, broker, stations=8) == 3


@pytest.mark.parametrize(
    "given",
    [{"max_concurrency": 2}, {"config": {"service": {"max_concurrency": 2}}}],
    ids=["keyword", "config"],
)
async def test_max_concurrency_is_the_former_name_of_max_workers(transport, broker, given) -> None:
    service = AsyncDataAnalysisService("load_prediction", transport=transport, **given)
    assert service.max_workers == 2 and service.config.service.max_workers == 2
    assert await most_callbacks_at_once(service, broker, stations=6) == 2


def test_the_thread_based_service_takes_max_workers_as_the_original_did(transport) -> None:
    assert DataAnalysisService("load_prediction", transport=transport, max_workers=7).max_workers == 7
    configured = DataAnalysisService("load_prediction", transport=transport, config={"service": {"max_workers": 5}})
    assert configured.max_workers == 5
    assert DataAnalysisService("load_prediction", transport=transport).max_workers == 32


def test_both_names_at_once_are_an_error_naming_them(transport) -> None:
    with pytest.raises(ConfigError, match="max_concurrency is the former name of max_workers"):
        AsyncDataAnalysisService("load_prediction", transport=transport, max_workers=4, max_concurrency=8)
    with pytest.raises(ConfigError, match="service: .*max_concurrency is the former name of max_workers"):
        AsyncDataAnalysisService(
            "load_prediction", transport=transport, config={"service": {"max_workers": 4, "max_concurrency": 8}}
        )


def test_a_misspelt_keyword_is_a_type_error_that_names_it(transport) -> None:
    with pytest.raises(
        TypeError,
        match=r"AsyncDataAnalysisService\(\) got an unexpected keyword argument "
        r"'max_worker' \(did you mean 'max_workers'\?\)",
    ):
        AsyncDataAnalysisService("load_prediction", transport=transport, max_worker=4)
    with pytest.raises(TypeError, match="'batch_timout'"):
        DataAnalysisService("load_prediction", transport=transport, batch_timout=3.0)


def test_a_bad_value_names_the_setting(transport) -> None:
    with pytest.raises(ConfigError, match=r"service\.max_workers: Input should be greater than or equal to 1"):
        AsyncDataAnalysisService("load_prediction", transport=transport, max_workers=0)


async def test_a_batch_timeout_set_before_start_is_the_one_the_service_runs_with(transport) -> None:
    service = AsyncDataAnalysisService("load_prediction", transport=transport)
    service._batch_timeout = 2.5  # the original d_a's batch document sets it so
    assert service.config.service.batch_timeout == 2.5
    await service.start(lambda station, data: None)
    try:
        assert service._batch_timeout == 2.5
    finally:
        await service.stop()
