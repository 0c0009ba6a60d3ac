"""Two services chained through a real broker: load_prediction feeds operation_optimization."""

from __future__ import annotations

import asyncio
import uuid

import orjson
from helpers import until

from d_a.kafka import AsyncKafkaProducerClient
from d_a.service import AsyncDataAnalysisService


async def test_operation_optimization_sees_load_prediction_outputs(kafka_config: dict) -> None:
    suffix = uuid.uuid4().hex[:6]
    config = {"module_output_topic_prefix": f"OUT-{suffix}-", "module_output_topics": {}}
    rows = [
        {
            "stationId": station,
            "hostCode": "H1",
            "sendTime": "2025-11-01 08:00:00",
            "gunPower": {"gunNo": [1, 2], "outputPowerPerGunAvg": [10.0, 30.0], "outputPowerPerGunMax": [12.0, 35.0]},
            "outputPowerPerStationAvg": 40.0,
            "outputPowerPerStationMax": 47.0,
        }
        for station in ("ST0001", "ST0002")
    ]
    seen: dict[str, dict] = {}

    def forecast(station_id, module_input):
        return {"forecast": [module_input["outputPowerPerStationAvg"] * 1.1], "model_version": "v2.1"}

    def optimise(station_id, module_input):
        if module_input.get("load_prediction_forecast") is not None:
            seen[station_id] = module_input

    group = f"chain-{suffix}"
    load = AsyncDataAnalysisService(
        "load_prediction", kafka_config=kafka_config, config=config, group_id=f"{group}-load"
    )
    optimisation = AsyncDataAnalysisService(
        "operation_optimization", kafka_config=kafka_config, config=config, group_id=f"{group}-opt"
    )
    assert load.output_topic == f"OUT-{suffix}-LOAD_PREDICTION"
    assert load.output_topic in optimisation.topics
    await asyncio.gather(load.start(forecast), optimisation.start(optimise))
    try:
        async with AsyncKafkaProducerClient(kafka_config) as producer:
            await producer.send("SCHEDULE-STATION-REALTIME-DATA", {"realTimeData": rows})
        await until(lambda: len(seen) >= 2, 45, interval=0.1, what=lambda: sorted(seen))
    finally:
        await asyncio.gather(load.stop(), optimisation.stop())
    assert set(seen) == {"ST0001", "ST0002"}
    data = seen["ST0001"]
    assert data["load_prediction_forecast"] == [44.0]
    assert data["load_prediction_model_version"] == "v2.1"
    assert data["load_prediction_output_window"]["forecast"] == [44.0]
    assert data["outputPowerPerStationAvg"] == 40.0
    assert orjson.dumps(data["_data_quality"])
