"""DataAnalysisService: the original d_a's thread-based service (sync callbacks, kafka-python clients).

It runs the same engine as the async service on an event loop of its own thread; callbacks run
on a bounded pool of `max_workers` threads fed by the queue of ready stations, so 1,000 stations
are all served by 32 threads (the original gave each station a never-ending task on the pool, so
stations beyond the 32nd never ran).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from ..config import ConfigSource
from ..errors import ConfigError, DataAnalysisError
from .base import ServiceBase
from .callbacks import CallbackPool
from .engine import ServiceEngine
from .handlers import resolve_result_handler
from .threaded import ThreadedConsumer, ThreadedGlobalReader, ThreadedProducer

__all__ = ["DataAnalysisService"]

logger = logging.getLogger("d_a.service")


class DataAnalysisService(ServiceBase):
    """Thread-based service: `start(callback, background=True)`; the callback is a plain function.

    Constructor: see ServiceBase; `max_workers` is the number of callback threads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.config.service.scale_out:
            raise ConfigError(
                "service.scale_out works with AsyncDataAnalysisService (d-a run without --sync) only: "
                "the thread-based service's kafka-python consumer has no station-slot assignor"
            )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def start(
        self,
        callback: Callable[..., Any] | None = None,
        result_handler: Callable[..., Any] | bool | None = None,
        background: bool = True,
    ) -> None:
        """Connect (KafkaConnectionError after the configured retries) and process; with
        `background=False` this call blocks until `stop()` is called from another thread.

        Both of the original d_a's forms work: `start(callback, background=...)` and
        `start(callback, result_handler, background)` (a bool second argument is `background`).
        A `result_handler` given here replaces the constructor's."""
        handler: Callable[..., Any] | None
        if isinstance(result_handler, bool):
            handler, background = None, result_handler
        else:
            handler = result_handler
        if self._thread is not None:
            raise DataAnalysisError("the service is already started")
        if handler is not None:
            resolve_result_handler(handler)
            self.result_handler = handler
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
        transport = self.transport

        def global_reader(topics: list[str]) -> ThreadedGlobalReader:
            return ThreadedGlobalReader(lambda: transport.global_reader(topics), topics)

        producer = ThreadedProducer(transport.producer) if self.needs_producer else None
        engine = ServiceEngine(
            self.config,
            self.options.engine,
            self.dispatcher,
            self._consumer(self.options.engine.consumed_topics),
            producer,
            callback=callback,
            result_handler=self.result_handler,
            callback_pool=CallbackPool(self.max_workers, thread_name_prefix="d_a-station"),
            global_reader=global_reader if hasattr(transport, "global_reader") else None,
            observer=self.observer,
            checkpoints=self.checkpoints(),
        )
        self.engine = engine  # its status is read while it starts (restoring windows)
        try:
            await engine.start()
        except BaseException:
            self.engine = None
            raise

    def _consumer(self, topics: list[str]) -> ThreadedConsumer:
        transport, group = self.transport, self.options.group_id
        return ThreadedConsumer(
            lambda start_from: transport.consumer(topics, group_id=group, start_from=start_from), topics
        )

    def stop(self) -> None:
        """Stop fetching, finish running callbacks, flush batches, commit offsets, disconnect."""
        loop, thread, engine = self._loop, self._thread, self.engine
        if loop is None or thread is None:
            return
        if engine is not None:
            asyncio.run_coroutine_threadsafe(engine.stop(), loop).result()
            self._final_status = engine.status()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread = self._loop = self.engine = None
        self._stopped.set()

    def get_all_inputs(self, station_id: str) -> dict[str, Any]:
        """`{module: module_input}` for every module, for one station."""
        return self.dispatcher.get_all_inputs(station_id)

    def add_station(
        self,
        station_id: str,
        callback: Callable[..., Any] | None = None,
        result_handler: Callable[..., Any] | None = None,
    ) -> None:
        """Serve a station now (with its own callback and result handler if given)."""
        engine, loop = self._running()
        resolve_result_handler(result_handler)
        loop.call_soon_threadsafe(engine.add_station, station_id, callback, result_handler)

    def remove_station(self, station_id: str) -> None:
        """Stop serving a station and drop its windows."""
        self._stop_station(station_id)

    def _stop_station(self, station_id: str) -> None:
        engine, loop = self._running()
        loop.call_soon_threadsafe(engine.forget_station, station_id)
        self.dispatcher.remove_station(station_id)

    def get_service_status(self) -> dict[str, Any]:
        """The original d_a's fields (main_thread_alive, consumer_alive, producer_alive, station_count,
        result_handler_registered) and more."""
        status = super().get_service_status()
        status["main_thread_alive"] = (
            self._thread is not None and self._thread.is_alive() and bool(status["main_loop_alive"])
        )
        return status

    def reload_config(self, config: ConfigSource = None) -> None:
        """Re-read the configuration (default: its original source); windows keep their data.
        When the module's topics changed, the consumer restarts on the new ones before this returns
        (uncommitted messages are delivered again)."""
        self._reload(config)
        if self.module_name is None or self.engine is None or self._loop is None:
            return
        wanted = self.config.topics_for(self.module_name)
        if set(wanted) != set(self.topics):
            consumed, global_topics = self._split(wanted)
            resubscribed = self.engine.resubscribe(self._consumer(consumed), global_topics)
            asyncio.run_coroutine_threadsafe(resubscribed, self._loop).result()
            self.topics = wanted
            logger.info("now consuming %d topics after a config reload", len(wanted))

    def _running(self) -> tuple[ServiceEngine, asyncio.AbstractEventLoop]:
        if self.engine is None or self._loop is None:
            raise DataAnalysisError("the service is not started")
        return self.engine, self._loop
