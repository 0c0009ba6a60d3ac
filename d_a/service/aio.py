"""AsyncDataAnalysisService: the seeds' asyncio service (callbacks sync or async)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..batching import BatchResultAggregator
from ..config import ConfigSource
from ..errors import DataAnalysisError
from .base import ServiceBase
from .engine import ServiceEngine
from .options import global_topics_for

__all__ = ["AsyncDataAnalysisService"]

logger = logging.getLogger("d_a.service")


class AsyncDataAnalysisService(ServiceBase):
    """Consumes the module's topics, keeps per-station windows, and calls `callback(station_id,
    module_input)` per station when its data changes; results go to `MODULE-OUTPUT-<MODULE>`.

    Constructor: see ServiceBase (the seeds' arguments plus `config`, `transport`, ...).
    """

    @property
    def batch_aggregator(self) -> BatchResultAggregator:
        """The running batch aggregator (its `batch_timeout` and `cleanup_interval` are adjustable)."""
        return self._engine().aggregator

    @property
    def consumer(self) -> Any:
        return self._engine().consumer

    async def start(
        self,
        callback: Callable[..., Any] | None = None,
        result_handler: Callable[..., Any] | None = None,
        batch_upload_handler: Callable[..., Any] | None = None,
    ) -> None:
        """Connect (KafkaConnectionError after the configured retries) and start processing."""
        if self.engine is not None:
            raise DataAnalysisError("the service is already started")
        consumer = self.transport.async_consumer(self.options.engine.consumed_topics, group_id=self.options.group_id)
        needs_producer = self.output_topic is not None
        producer = self.transport.async_producer() if needs_producer else None
        self.engine = ServiceEngine(
            self.config,
            self.options.engine,
            self.dispatcher,
            consumer,
            producer,
            callback=callback,
            result_handler=result_handler or self.result_handler,
            batch_upload_handler=batch_upload_handler,
            global_reader=getattr(self.transport, "async_global_reader", None),
        )
        try:
            await self.engine.start()
        except BaseException:
            self.engine = None
            raise

    async def stop(self) -> None:
        """Stop fetching, finish running callbacks, flush batches, commit offsets, disconnect."""
        engine, self.engine = self.engine, None
        if engine is not None:
            await engine.stop()
            self._final_status = engine.status()

    async def run(self, callback: Callable[..., Any] | None = None, **handlers: Any) -> None:
        """Start, then process until cancelled (e.g. by a signal handler), then stop cleanly."""
        await self.start(callback, **handlers)
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def get_all_inputs(self, station_id: str) -> dict[str, Any]:
        """`{module: module_input}` for every module, for one station."""
        return self.dispatcher.get_all_inputs(station_id)

    async def get_inputs(self, station_id: str, module: str | None = None) -> Any:
        """This service's module input for a station (all modules' inputs without a module)."""
        return self._inputs(station_id, module)

    async def get_outputs(self, station_id: str) -> dict[str, Any]:
        """The seeds' name for `get_all_inputs`."""
        return self.dispatcher.get_all_inputs(station_id)

    async def add_station(self, station_id: str, callback: Callable[..., Any] | None = None) -> None:
        """Serve a station now (with its own callback if given), before or without its own data."""
        engine = self._engine()
        if callback is not None:
            engine.station_callbacks[station_id] = callback
        engine.scheduler.trigger(station_id)

    async def remove_station(self, station_id: str) -> None:
        """Stop serving a station and drop its windows."""
        engine = self._engine()
        engine.forget_station(station_id)
        self.dispatcher.remove_station(station_id)

    async def reload_config(self, config: ConfigSource = None) -> None:
        """Re-read the configuration: windows keep their data; topics new to the service are
        consumed after the consumer restarts (uncommitted messages are delivered again)."""
        source = config if config is not None else self._source
        self.dispatcher.reload_config(source)
        self.config = self.dispatcher.config
        if self.module_name is not None and self.engine is not None:
            wanted = self.config.topics_for(self.module_name)
            if set(wanted) != set(self.topics):
                await self._resubscribe(wanted)

    async def _resubscribe(self, topics: list[str]) -> None:
        engine = self._engine()
        global_topics = global_topics_for(self.config, topics, self.transport)
        consumed = [t for t in topics if t not in global_topics]
        await engine.replace_consumer(self.transport.async_consumer(consumed, group_id=self.options.group_id))
        await engine.globals.resubscribe(global_topics)  # a new global topic is bootstrapped
        self.options.engine.global_topics = global_topics
        self.topics = topics
        logger.info("now consuming %d topics after a config reload", len(topics))
