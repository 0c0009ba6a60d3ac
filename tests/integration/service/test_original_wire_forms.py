"""d_a beside the deployment it replaces: the original implementation's messages through Kafka."""

from __future__ import annotations

import asyncio
import time
import uuid

from helpers import until

from d_a import AsyncDataAnalysisService, AsyncKafkaProducerClient


async def test_multi_host_parameters_and_results_form_batches(kafka_config: dict) -> None:
    """A PARAM record with a list of host codes routes every host's data to its station and gives
    the station its parameters; an upstream module's batch in the original `results` form reaches
    the dependent module's input as `D_<key>` fields."""
    suffix = uuid.uuid4().hex[:6]
    station, hosts = f"ST{suffix}", [f"H{suffix}-1", f"H{suffix}-2"]
    inputs: list[dict] = []

    def optimise(station_id, module_input):
        if station_id == station:
            inputs.append(module_input)

    def complete(data: dict) -> bool:
        devices = {d.get("hostCode") for d in data.get("dcdc_devices") or []}
        return data.get("stationLat") == 22.5 and devices == set(hosts) and data.get("load_prediction_value") == 1.0

    service = AsyncDataAnalysisService("operation_optimization", kafka_config=kafka_config, group_id=f"g-{suffix}")
    await service.start(optimise)
    try:
        async with AsyncKafkaProducerClient(kafka_config) as producer:
            await producer.send(
                "SCHEDULE-STATION-PARAM",
                [{"stationId": station, "stationLng": 114.0, "stationLat": 22.5, "gunNum": 8, "hostCode": hosts}],
            )
            await asyncio.sleep(0.5)  # the parameters teach the router the hosts first
            for host in hosts:  # the original's device reports name their host only
                await producer.send(
                    "SCHEDULE-DEVICE-HOST-DCDC",
                    {
                        "hostCode": host,
                        "dcWorkStatus": [1, 1],
                        "dcdcPower": [3.0, 4.0],
                        "sendTime": "2025-11-12 08:00:00",
                    },
                )
            await producer.send(
                "MODULE-OUTPUT-LOAD_PREDICTION",
                {
                    "batch_id": "b0",
                    "module": "load_prediction",
                    "timestamp": time.time(),
                    "stations_count": 1,
                    "results": [{"station_id": station, "value": 1.0}],
                },
            )
        await until(
            lambda: inputs and complete(inputs[-1]),
            45,
            interval=0.1,
            what=lambda: inputs[-1] if inputs else "no callback for the station",
        )
    finally:
        await service.stop()
    assert inputs, "no callback for the station"
    latest = inputs[-1]
    assert (
        latest["stationLat"] == 22.5
        and latest["gunNum"] == 8
        and latest["_topics"]["SCHEDULE-STATION-PARAM"]["hostCode"] == hosts
    )
    assert sorted(d["hostCode"] for d in latest["dcdc_devices"]) == hosts
    assert latest["load_prediction_value"] == 1.0 and latest["load_prediction_output_window"]["value"] == 1.0
