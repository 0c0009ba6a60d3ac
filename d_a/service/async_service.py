"""AsyncDataAnalysisService: the original d_a's asyncio service (callbacks sync or async)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from ..config import ConfigSource
from ..errors import ConfigError, DataAnalysisError, handle_error
from ..kafka.transport import AsyncConsumer
from .base import ServiceBase
from .batching import BatchResultAggregator, checked_seconds
from .engine import ServiceEngine
from .scale_out import ScaleOutLayout, lay_out
from .splitter import StationSplitter

__all__ = ["AsyncDataAnalysisService"]

logger = logging.getLogger("d_a.service")


class AsyncDataAnalysisService(ServiceBase):
    """Consumes the module's topics, keeps per-station windows, and calls `callback(station_id,
    module_input)` per station when its data changes; results go to `MODULE-OUTPUT-<MODULE>`.

    Constructor: see ServiceBase (the original d_a's arguments plus `config`, `transport`, ...).
    """

    _splitter: StationSplitter | None = None  # with scale-out, when some topics are not keyed by station

    @property
    def batch_aggregator(self) -> BatchResultAggregator:
        """The running batch aggregator (its `batch_timeout` and `cleanup_interval` are adjustable)."""
        return self._engine().aggregator

    @property
    def consumer(self) -> Any:
        return self._engine().intake.consumer

    async def start(
        self,
        callback: Callable[..., Any] | None = None,
        result_handler: Callable[..., Any] | None = None,
        batch_upload_handler: Callable[..., Any] | None = None,
    ) -> None:
        """Connect (KafkaConnectionError after the configured retries) and start processing."""
        if self.engine is not None:
            raise DataAnalysisError("the service is already started")
        layout = await self._lay_out() if self.config.service.scale_out else None
        consumer = self._consumer(self.options.engine.consumed_topics if layout is None else layout.consumed)
        producer = self.transport.async_producer() if self.needs_producer else None
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
            observer=self.observer,
            checkpoints=self.checkpoints(),
            sources=None if layout is None else layout.sources,
            slots=0 if layout is None else layout.slots,
        )
        self._splitter = None if layout is None else layout.splitter
        try:
            if self._splitter is not None:
                await self._splitter.start()
            try:
                await self.engine.start()
            except BaseException:
                if self._splitter is not None:
                    await self._splitter.stop()
                raise
        except BaseException:
            self.engine = self._splitter = None
            raise

    async def stop(self) -> None:
        """Stop fetching, finish running callbacks, flush batches, commit offsets, disconnect."""
        engine, self.engine = self.engine, None
        if engine is not None:
            await engine.stop()
            self._final_status = engine.status()
        splitter, self._splitter = self._splitter, None
        if splitter is not None:
            await splitter.stop()

    async def run(self, callback: Callable[..., Any] | None = None, **handlers: Any) -> None:
        """Start, then process until cancelled (e.g. by a signal handler), then stop cleanly."""
        await self.start(callback, **handlers)
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    def get_service_status(self) -> dict[str, Any]:
        status = super().get_service_status()
        if self._splitter is not None and status.get("scale_out") is not None:
            status["scale_out"]["splitter"] = self._splitter.status()
        return status

    async def get_all_inputs(self, station_id: str) -> dict[str, Any]:
        """`{module: module_input}` for every module, for one station (awaited, as in the original d_a)."""
        return self.dispatcher.get_all_inputs(station_id)

    async def add_station(
        self,
        station_id: str,
        callback: Callable[..., Any] | None = None,
        result_handler: Callable[..., Any] | None = None,
    ) -> None:
        """Serve a station now (with its own callback and result handler if given), before or
        without its own data; it runs once its required topics hold data."""
        self._engine().add_station(station_id, callback, result_handler)

    async def remove_station(self, station_id: str) -> None:
        """Stop serving a station and drop its windows."""
        self._stop_station(station_id)

    def _stop_station(self, station_id: str) -> None:
        self._engine().forget_station(station_id)
        self.dispatcher.remove_station(station_id)

    def reload_config(self, config: ConfigSource = None) -> Awaitable[None]:
        """Re-read the configuration now (default: its original source); windows keep their data.

        A plain call, as in the original d_a. When the module's topics changed, the consumer
        restarts on the new ones (uncommitted messages are delivered again): the returned awaitable
        is done when it has; awaiting it is optional."""
        self._reload(config)
        if self.module_name is None or self.engine is None:
            return _done()
        wanted = self.config.topics_for(self.module_name)
        if set(wanted) == set(self.topics):
            return _done()
        if self.config.service.scale_out:
            raise ConfigError(
                f"scale_out: the module's topics changed ({', '.join(sorted(set(wanted) ^ set(self.topics)))}); "
                "restart the instances to read them"
            )
        task = asyncio.get_running_loop().create_task(self._resubscribe(wanted), name="d_a-resubscribe")
        task.add_done_callback(_report_failure)
        return task

    @property
    def _batch_timeout(self) -> float:
        """The batch timeout in seconds (the original d_a's batch document sets `service._batch_timeout`)."""
        return self.engine.aggregator.batch_timeout if self.engine else self.options.engine.service.batch_timeout

    @_batch_timeout.setter
    def _batch_timeout(self, seconds: float) -> None:
        seconds = checked_seconds("batch_timeout", seconds)
        self.options.set_service_settings(batch_timeout=seconds)
        if self.engine is not None:
            self.engine.aggregator.batch_timeout = seconds

    async def _lay_out(self) -> ScaleOutLayout:
        """Scale-out: the by-station topics, and what the consumer reads; ConfigError off Kafka."""
        if self.transport.name != "kafka":
            raise ConfigError(
                "service.scale_out needs Kafka (the embedded broker or a cluster): the memory broker's groups "
                "share whole topics, not partitions"
            )
        return await lay_out(self.config, self.options.engine.consumed_topics, self.options.group_id)

    def _consumer(self, topics: list[str]) -> AsyncConsumer:
        return self.transport.async_consumer(
            topics, group_id=self.options.group_id, scale_out=self.config.service.scale_out
        )

    async def _resubscribe(self, topics: list[str]) -> None:
        consumed, global_topics = self._split(topics)
        await self._engine().resubscribe(self._consumer(consumed), global_topics)
        self.topics = topics
        logger.info("now consuming %d topics after a config reload", len(topics))


class _Done:
    """An awaitable that is already done (what `reload_config` returns when nothing is left to do)."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield


def _done() -> Awaitable[None]:
    return _Done()


def _report_failure(task: asyncio.Task) -> None:
    error = None if task.cancelled() else task.exception()
    if error is not None:
        handle_error(error, context="consumer restart after a config reload")
