"""The seeds' deployment guide (004): start scripts, batch upload handler, health check, logging,
and the config.py the Docker and Kubernetes examples mount into the package."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import until, wait_for
from seed_helpers import into_kafka, into_memory, read_kafka, simulated

REPO = Path(__file__).resolve().parents[2]

# sync_main.py exactly as the guide writes it.
SYNC_MAIN = '''\
#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""
同步服务启动脚本
"""
from d_a import DataAnalysisService
from d_a.config import KAFKA_CONFIG
import logging

logging.basicConfig(
    level=logging.INFO,
    format='[%(asctime)s] %(levelname)s %(name)s %(message)s'
)

def my_callback(station_id, module_input):
    """处理数据的回调函数"""
    logging.info(f"处理场站 {station_id} 的数据")
    # 这里添加你的业务逻辑
    return module_input  # 返回结果将自动上传到Kafka

if __name__ == '__main__':
    service = DataAnalysisService(
        module_name='load_prediction',  # 指定模块名称
        kafka_config=KAFKA_CONFIG,
        data_expire_seconds=600
    )

    try:
        service.start(callback=my_callback, background=False)
    except KeyboardInterrupt:
        logging.info("收到停止信号，正在关闭服务...")
        service.stop()
'''

# async_main.py with the guide's batch upload handler. The guide's text is mis-indented inside
# `try:` (a SyntaxError as printed) and uses `time` and `kafka_producer` without defining them;
# this is the smallest version that runs, every call as the guide makes it.
ASYNC_MAIN = '''\
import asyncio
import logging
import time

from d_a import AsyncDataAnalysisService, AsyncKafkaProducerClient
from d_a.config import KAFKA_CONFIG

logging.basicConfig(level=logging.INFO, format='[%(asctime)s] %(levelname)s %(name)s %(message)s')

kafka_producer = AsyncKafkaProducerClient(KAFKA_CONFIG)


async def batch_upload_handler(batch_id, results_list):
    """一次性上传同一批所有场站结果"""
    if not results_list:
        logging.warning("%s 批次没有有效结果，跳过上传", batch_id)
        return

    payload = {
        "batch_id": batch_id,
        "module": "load_prediction",
        "timestamp": time.time(),
        "stations": results_list,
        "station_count": len(results_list),
    }
    await kafka_producer.send("MODULE-OUTPUT-LOAD_PREDICTION", value=payload)


async def my_callback(station_id, module_input):
    """异步处理数据的回调函数"""
    logging.info(f"处理场站 {station_id} 的数据")
    await asyncio.sleep(0.01)  # 模拟异步操作
    return {"hours": len(module_input["outputPowerPerStationAvg_window"])}


async def main():
    await kafka_producer.start()
    service = AsyncDataAnalysisService(
        module_name='load_prediction',  # 指定模块名称
        kafka_config=KAFKA_CONFIG,
        data_expire_seconds=600
    )

    try:
        await service.start(
            callback=my_callback,
            batch_upload_handler=batch_upload_handler,
        )
        # 保持运行
        await asyncio.Event().wait()
    except (KeyboardInterrupt, asyncio.CancelledError):
        logging.info("收到停止信号，正在关闭服务...")
        await service.stop()
        await kafka_producer.stop()

if __name__ == '__main__':
    asyncio.run(main())
'''


def _run_script(tmp_path: Path, name: str, text: str, seed_config: Path) -> subprocess.Popen:
    script = tmp_path / name
    script.write_text(text, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DATA_ANALYSIS_CONFIG_PATH": str(seed_config),
        "DATA_ANALYSIS_LOG": str(tmp_path / "app.log"),
    }
    return subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _has_batch(uploads: list) -> bool:
    return any("stations" in u for u in uploads)


def _interrupt(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return process.returncode, output


async def test_sync_main_script_runs_unchanged(tmp_path: Path, seed_config: Path) -> None:
    """`python sync_main.py` with the guide's config.py: module inputs are uploaded to
    MODULE-OUTPUT-LOAD_PREDICTION, Ctrl-C stops it cleanly, and app.log holds the service's log."""
    from d_a.config import KAFKA_CONFIG

    since = time.time()
    await into_kafka(simulated(stations=2, seconds=3), KAFKA_CONFIG)
    process = _run_script(tmp_path, "sync_main.py", SYNC_MAIN, seed_config)
    try:
        uploads = await read_kafka("MODULE-OUTPUT-LOAD_PREDICTION", KAFKA_CONFIG, _has_batch, since=since)
    finally:
        code, output = _interrupt(process)
    assert _has_batch(uploads), output
    # runs before REALTIME-DATA arrived upload one station each; its message's stations form a batch
    batch = next(u for u in uploads if "stations" in u)
    assert {s["station_id"] for s in batch["stations"]} == {"ST0001", "ST0002"}
    assert all(s["station_id"] == s["stationId"] for s in batch["stations"])  # the module inputs themselves
    assert code == 0, output
    assert "收到停止信号，正在关闭服务..." in output and "service stopped" in output
    assert "service started: module=load_prediction" in (tmp_path / "app.log").read_text("utf-8")


async def test_async_main_script_with_batch_upload_handler(tmp_path: Path, seed_config: Path) -> None:
    """async_main.py with the guide's batch_upload_handler: one upload per REALTIME-DATA batch,
    in the guide's payload, with every station's result carrying its station_id."""
    from d_a.config import KAFKA_CONFIG

    since = time.time()
    await into_kafka(simulated(stations=3, seconds=3), KAFKA_CONFIG)
    process = _run_script(tmp_path, "async_main.py", ASYNC_MAIN, seed_config)
    try:
        uploads = await read_kafka("MODULE-OUTPUT-LOAD_PREDICTION", KAFKA_CONFIG, _has_batch, since=since)
    finally:
        _, output = _interrupt(process)
    assert _has_batch(uploads), output
    batch = next(u for u in uploads if "stations" in u)
    assert batch["batch_id"].startswith("SCHEDULE-STATION-REALTIME-DATA_") and batch["module"] == "load_prediction"
    assert batch["station_count"] == len(batch["stations"]) == 3
    assert {s["station_id"] for s in batch["stations"]} == {"ST0001", "ST0002", "ST0003"}
    assert all(s["hours"] == 24 for s in batch["stations"])


def health_check(service):
    """The guide's health check, given the running service instead of a new one."""
    service_status = service.get_service_status()
    station_status = service.get_station_status()
    return {
        "status": "healthy" if service_status.get("main_thread_alive") else "unhealthy",
        "timestamp": time.time(),
        "service": {
            "main_thread": service_status.get("main_thread_alive", False),
            "consumer_alive": service_status.get("consumer_alive", False),
            "producer_alive": service_status.get("producer_alive", False),
            "station_count": service_status.get("station_count", 0),
        },
        "stations": {sid: {"running": info.get("running", False)} for sid, info in station_status.items()},
    }


def test_health_check(memory) -> None:
    """The guide's `health_check()`: healthy with every station running while the service runs;
    unhealthy for a service that is not started (the guide's own `DataAnalysisService()`)."""
    from d_a import DataAnalysisService

    service = DataAnalysisService(module_name="operation_optimization")
    service.start(lambda s, m: {"ok": True}, background=True)
    try:
        into_memory(simulated(stations=3, seconds=3))
        wait_for(lambda: len(service.get_station_status()) == 3, timeout=15)
        health = health_check(service)
    finally:
        service.stop()
    assert health["status"] == "healthy"
    assert health["service"] == {
        "main_thread": True,
        "consumer_alive": True,
        "producer_alive": True,
        "station_count": 3,
    }
    assert health["stations"] == {s: {"running": True} for s in ("ST0001", "ST0002", "ST0003")}
    assert health_check(DataAnalysisService())["status"] == "unhealthy"


def test_logging_configuration_of_the_guide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The guide's logging setup (console + RotatingFileHandler on DATA_ANALYSIS_LOG): d_a adds
    no second file handler, so every line is in app.log once."""
    from logging.handlers import RotatingFileHandler

    from d_a import DataAnalysisService, handle_error

    log_file = tmp_path / "app.log"
    monkeypatch.setenv("DATA_ANALYSIS_LOG", str(log_file))
    LOG_FILE = os.getenv("DATA_ANALYSIS_LOG", "data_analysis.log")  # noqa: N806 - the guide's names
    handler = RotatingFileHandler(LOG_FILE, maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        DataAnalysisService(module_name="load_prediction", transport="memory")
        handle_error(ValueError("坏数据"), context="station=ST0001")
    finally:
        root.removeHandler(handler)
        handler.close()
    text = log_file.read_text("utf-8")
    assert text.count("ValueError: 坏数据 [context: station=ST0001]") == 1


def test_services_log_to_a_file_out_of_the_box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With logging left alone, a service's log and `handle_error` reach the console and the file
    the guide names (DATA_ANALYSIS_LOG, default data_analysis.log)."""
    log_file = tmp_path / "app.log"
    script = textwrap.dedent(
        """
        from d_a import DataAnalysisService, handle_error
        DataAnalysisService(module_name="load_prediction", transport="memory")
        handle_error(RuntimeError("boom"), context="station=ST0001")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "DATA_ANALYSIS_LOG": str(log_file)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "RuntimeError: boom [context: station=ST0001]" in done.stderr
    assert "RuntimeError: boom [context: station=ST0001]" in log_file.read_text("utf-8")


def test_config_py_mounted_into_the_package_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`docker run -v /path/to/config.py:/app/d_a/config.py`: a config.py next to the package
    is the configuration (it used to be shadowed by the d_a.config package, silently)."""
    import d_a.config
    import d_a.config.loader as loader

    mounted = tmp_path / "config.py"
    mounted.write_text(
        textwrap.dedent(
            """
            KAFKA_CONFIG = {
                'consumer': {'bootstrap_servers': ['kafka-broker-1:9092'], 'group_id': 'data_analysis_prod'},
                'producer': {'bootstrap_servers': ['kafka-broker-1:9092'], 'acks': 'all'},
            }
            MODULE_DEPENDENCIES = {'operation_optimization': ['load_prediction']}
            MODULE_OUTPUT_TOPICS = {'load_prediction': 'MODULE-OUTPUT-LOAD-PREDICTION'}
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr(loader, "PACKAGE_MOUNT", mounted)
    assert d_a.config.KAFKA_CONFIG["consumer"]["group_id"] == "data_analysis_prod"
    assert d_a.config.MODULE_OUTPUT_TOPICS["load_prediction"] == "MODULE-OUTPUT-LOAD-PREDICTION"
    assert d_a.config.get_config().source == str(mounted)


def test_configmap_placeholder_fields_fail_loudly(tmp_path: Path) -> None:
    """The guide's ConfigMap lists fields as `['stationId', 'stationTemp', 'lat', 'lng', ...]`: as
    Python that `...` is an Ellipsis object, and the load fails naming the key, not silently."""
    from d_a import ConfigError, load_config

    path = tmp_path / "config.py"
    path.write_text(
        textwrap.dedent(
            """
            TOPIC_DETAIL = {
                'SCHEDULE-STATION-PARAM': {
                    'fields': ['stationId', 'stationTemp', 'lat', 'lng', ...],
                    'frequency': '新建站或配置更改时',
                    'modules': ['load_prediction', 'operation_optimization'],
                    'window_size': 1
                },
            }
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(
        ConfigError, match=r"TOPIC_DETAIL\.SCHEDULE-STATION-PARAM\.fields\.4: `\.\.\.` is a placeholder"
    ):
        load_config(path)


async def test_production_kafka_config_of_the_guide_runs(seed_config: Path) -> None:
    """The guide's production producer settings (acks all, gzip, linger_ms, batch_size) and
    `compression_type: 'none'` of the developer guide both upload through a real broker."""
    import uuid

    from d_a import AsyncKafkaConsumerClient, AsyncKafkaProducerClient, KafkaProducerClient
    from d_a.config import KAFKA_CONFIG

    topic = f"seed-compression-{uuid.uuid4().hex[:8]}"
    for compression in ("gzip", "none"):
        config = {**KAFKA_CONFIG, "producer": {**KAFKA_CONFIG["producer"], "compression_type": compression}}
        async with AsyncKafkaProducerClient(config) as producer:
            await producer.send(topic, {"compression": compression, "client": "aiokafka"})
        sync_producer = KafkaProducerClient(config)
        await asyncio.to_thread(sync_producer.send, topic, {"compression": compression, "client": "kafka-python"})
        sync_producer.close()
    async with AsyncKafkaConsumerClient([topic], KAFKA_CONFIG, group_id=f"r-{topic}", decode_json=True) as consumer:
        values = []
        deadline = time.monotonic() + 30
        while len(values) < 4 and time.monotonic() < deadline:
            values += [m.value for m in await consumer.getmany(timeout_ms=500)]
    assert sorted((v["compression"], v["client"]) for v in values) == [
        ("gzip", "aiokafka"),
        ("gzip", "kafka-python"),
        ("none", "aiokafka"),
        ("none", "kafka-python"),
    ]


async def test_batch_upload_handler_may_be_sync(memory) -> None:
    """'batch_upload_handler 可以是同步函数，框架会自动检测并在需要时 await'."""
    from d_a import AsyncDataAnalysisService

    batches = []

    def batch_upload_handler(batch_id, results_list):
        batches.append((batch_id, results_list))

    service = AsyncDataAnalysisService(module_name="load_prediction")
    await service.start(callback=lambda s, m: {"v": 1}, batch_upload_handler=batch_upload_handler)
    try:
        into_memory(simulated(stations=2, seconds=2))
        await until(lambda: batches, timeout=15)
    finally:
        await service.stop()
    assert [sorted(r["station_id"] for r in results) for _, results in batches][0] == ["ST0001", "ST0002"]
