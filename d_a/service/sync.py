"""DataAnalysisService: the seeds' thread-based service (sync callbacks, kafka-python clients).

It runs the same engine as the async service on an event loop of its own thread; callbacks run
on a bounded pool of `max_workers` threads fed by the queue of ready stations, so 1,000 stations
are all served by 32 threads (the original gave each station a never-ending task on the pool, so
stations beyond the 32nd never ran).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..config import ConfigSource
from ..dispatcher import DataDispatcher
from ..errors import DataAnalysisError
from ..kafka.transport import Transport
from .engine import ServiceEngine
from .options import DEFAULT_OUTPUT_PREFIX, resolve_options
from .threaded import ThreadedConsumer, ThreadedProducer

__all__ = ["DataAnalysisService"]

logger = logging.getLogger("d_a.service")

DEFAULT_MAX_WORKERS = 32


class DataAnalysisService:
    """Thread-based service: `start(callback, background=True)`; the callback is a plain function."""

    def __init__(
        self,
        module_name: str | None = None,
        topics: Sequence[str] | None = None,
        kafka_config: Mapping[str, Any] | None = None,
        data_expire_seconds: float | None = None,
        output_topic_prefix: str = DEFAULT_OUTPUT_PREFIX,
        result_handler: Callable[..., Any] | None = None,
        *,
        config: ConfigSource = None,
        transport: Transport | str | None = None,
        group_id: str | None = None,
        required_topics: Sequence[str] | None = None,
        max_workers: int | None = None,
        **service_settings: Any,
    ) -> None:
        self.module_name = module_name
        self.result_handler = result_handler
        self.options = resolve_options(
            module_name=module_name,
            topics=topics,
            kafka_config=kafka_config,
            output_topic_prefix=output_topic_prefix,
            config=config,
            transport=transport,
            group_id=group_id,
            required_topics=required_topics,
            overrides={"data_expire_seconds": data_expire_seconds, **service_settings},
        )
        self.max_workers = max_workers or self.options.config.service.max_workers or DEFAULT_MAX_WORKERS
        self.options.engine.max_concurrency = self.max_workers
        self.config = self.options.config
        self.topics = self.options.topics
        self.transport = self.options.transport
        self.dispatcher = DataDispatcher(self.config.service.data_expire_seconds, self.config)
        self._source = config
        self.engine: ServiceEngine | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def output_topic(self) -> str | None:
        return self.options.engine.output_topic

    def start(self, callback: Callable[..., Any] | None = None, background: bool = True) -> None:
        """Connect (KafkaConnectionError after the configured retries) and process; with
        `background=False` this call blocks until `stop()` is called from another thread."""
        if self._thread is not None:
            raise DataAnalysisError("the service is already started")
        started = threading.Event()
        failure: list[BaseException] = []
        self._stopped.clear()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._start_engine(callback))
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name="d_a-service", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        if not background:
            self._stopped.wait()

    async def _start_engine(self, callback: Callable[..., Any] | None) -> None:
        transport, topics, group = self.transport, self.topics, self.options.group_id
        consumer = ThreadedConsumer(lambda: transport.consumer(topics, group_id=group), topics)
        producer = ThreadedProducer(transport.producer) if self.output_topic is not None else None
        engine = ServiceEngine(
            self.config,
            self.options.engine,
            self.dispatcher,
            consumer,
            producer,
            callback=callback,
            result_handler=self.result_handler,
            executor=ThreadPoolExecutor(self.max_workers, thread_name_prefix="d_a-station"),
        )
        await engine.start()
        self.engine = engine

    def stop(self) -> None:
        """Stop fetching, finish running callbacks, flush batches, commit offsets, disconnect."""
        loop, thread, engine = self._loop, self._thread, self.engine
        if loop is None or thread is None:
            return
        if engine is not None:
            asyncio.run_coroutine_threadsafe(engine.stop(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread = self._loop = self.engine = None
        self._stopped.set()

    def get_outputs(self, station_id: str) -> dict[str, Any]:
        """Every module's input for one station (the seeds' name)."""
        return self.dispatcher.get_all_inputs(station_id)

    def get_all_inputs(self, station_id: str) -> dict[str, Any]:
        return self.dispatcher.get_all_inputs(station_id)

    def get_inputs(self, station_id: str, module: str | None = None) -> Any:
        module = module or self.module_name
        if module is None:
            return self.dispatcher.get_all_inputs(station_id)
        return self.dispatcher.get_module_input(station_id, module)

    def add_station(self, station_id: str, callback: Callable[..., Any] | None = None) -> None:
        """Serve a station now (with its own callback if given)."""
        engine, loop = self._running()
        if callback is not None:
            engine.station_callbacks[station_id] = callback
        loop.call_soon_threadsafe(engine.scheduler.trigger, station_id)

    def remove_station(self, station_id: str) -> None:
        """Stop serving a station and drop its windows."""
        engine, loop = self._running()
        loop.call_soon_threadsafe(engine.forget_station, station_id)
        with self.dispatcher.lock:
            self.dispatcher.data_cache.pop(station_id, None)

    def get_station_status(self) -> dict[str, dict[str, Any]]:
        return self.engine.station_status() if self.engine else {}

    def get_service_status(self) -> dict[str, Any]:
        """The seeds' fields (main_thread_alive, consumer_alive, producer_alive, station_count) and more."""
        if self.engine is None:
            return {
                "main_thread_alive": False,
                "consumer_alive": False,
                "producer_alive": False,
                "station_count": len(self.dispatcher.stations()),
            }
        status = self.engine.status()
        status["main_thread_alive"] = self._thread is not None and self._thread.is_alive() and status["main_loop_alive"]
        return status

    def reload_config(self, config: ConfigSource = None) -> None:
        """Re-read the configuration; windows keep their data."""
        self.dispatcher.reload_config(config if config is not None else self._source)
        self.config = self.dispatcher.config

    def _running(self) -> tuple[ServiceEngine, asyncio.AbstractEventLoop]:
        if self.engine is None or self._loop is None:
            raise DataAnalysisError("the service is not started")
        return self.engine, self._loop
