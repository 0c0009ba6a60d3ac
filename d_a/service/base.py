"""ServiceBase: what the async and the thread-based service share — their construction from the
original d_a's arguments, the dispatcher, inputs for a station, and status reports."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..config import Config, ConfigSource, load_config, reread
from ..dispatcher import DataDispatcher
from ..errors import DataAnalysisError
from ..kafka.transport import Transport
from ..logs import ensure_logging
from ..state import CheckpointStore
from .engine import ServiceEngine
from .handlers import resolve_result_handler
from .options import DEFAULT_OUTPUT_PREFIX, global_topics_for, resolve_options
from .stats import EngineObserver

__all__ = ["ServiceBase"]


class ServiceBase:
    """Beyond the original d_a's arguments: `config` (path, dict or module), `transport` ("kafka" default,
    "memory", or a Transport), `group_id`, `required_topics`, and the config's `service` settings
    as keywords (`max_workers`, `min_interval`, `interval`, `batch_timeout`, ...; a keyword that
    is none of these is a TypeError)."""

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
        **service_settings: Any,
    ) -> None:
        resolve_result_handler(result_handler)  # a handler of neither form fails here, not at every run
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
            owner=type(self).__name__,
        )
        self.module_name = self.options.engine.module_name
        if self.config.service.configure_logging:
            ensure_logging()
        self.topics = self.options.topics
        self.transport = self.options.transport
        self.dispatcher = DataDispatcher(self.config.service.data_expire_seconds, self.config, defer_encoding=True)
        self._source = config
        self.engine: ServiceEngine | None = None
        self.observer: EngineObserver | None = None  # see `observe`
        self._final_status: dict[str, Any] | None = None

    def checkpoints(self) -> CheckpointStore | None:
        """Where this service's windows are checkpointed: `state_dir`/<group id>; None when
        `state_dir` is not set."""
        state_dir = self.config.service.state_dir
        if state_dir is None:
            return None
        return CheckpointStore(Path(state_dir) / quote(self.options.group_id, safe=""))

    def observe(self, observer: EngineObserver | None) -> None:
        """Tell `observer` of every run from now on (e.g. `d_a.metrics.ServiceMetrics`, whose
        histograms it fills); None stops it."""
        self.observer = observer
        if self.engine is not None:
            self.engine.stats.observer = observer

    @property
    def config(self) -> Config:
        """The configuration the service runs with (its own settings applied)."""
        return self.options.config

    @property
    def max_workers(self) -> int:
        """Station callbacks that run at once (`service.max_workers`)."""
        return self.options.engine.service.max_workers

    @property
    def output_topic(self) -> str | None:
        return self.options.engine.output_topic

    @property
    def needs_producer(self) -> bool:
        """Whether the service writes anything: results, or dead letters."""
        return self.output_topic is not None or self.options.engine.service.dead_letter_topic is not None

    def get_inputs(self, station_id: str, module: str | None = None) -> Any:
        """Every module's input for a station, `{module: module_input}` (the original d_a's call); with
        `module`, that module's input only."""
        if module is None:
            return self.dispatcher.get_all_inputs(station_id)
        return self.dispatcher.get_module_input(station_id, module)

    def get_outputs(self, station_id: str) -> dict[str, Any]:
        """`get_inputs(station_id)` under the original d_a's name: it gives every module's input
        for a station (not outputs); kept so code written against the original runs."""
        return self.get_inputs(station_id)

    def get_station_status(self) -> dict[str, dict[str, Any]]:
        """Per station: `running` (served), `task` / `future` (see StationHandle), `ready`,
        `in_callback`, `queued`, `runs`, `errors`, `last_error`; {} when the service is not running."""
        return self.engine.station_status(self._stop_station) if self.engine else {}

    def get_service_status(self) -> dict[str, Any]:
        """The original d_a's fields (`main_thread_alive`, `consumer_alive`, `producer_alive`,
        `station_count`, `result_handler_registered`) and queue depth, counters, errors and latency
        (the last figures once stopped)."""
        if self.engine is None:
            stopped = {
                "main_loop_alive": False,
                "main_thread_alive": False,
                "consumer_alive": False,
                "producer_alive": False,
            }
            return {
                **(self._final_status or {}),
                **stopped,
                "station_count": len(self.dispatcher.stations()),
                "result_handler_registered": self.result_handler is not None,
            }
        return self.engine.status()

    def _reload(self, config: ConfigSource) -> Config:
        """Read the configuration again (default: the service's source), fit it to this service and
        hand it to the dispatcher (windows keep their data)."""
        fitted = self.options.fit(load_config(reread(config if config is not None else self._source)))
        self.dispatcher.reload_config(fitted)
        self.options.config = fitted
        return fitted

    def _split(self, topics: list[str]) -> tuple[list[str], list[str]]:
        """(the topics the service's consumer reads, those its global reader reads)."""
        global_topics = global_topics_for(self.config, topics, self.transport)
        return [t for t in topics if t not in global_topics], global_topics

    def _stop_station(self, station_id: str) -> None:
        """Stop serving a station and drop its windows (a StationHandle's `cancel`)."""
        raise NotImplementedError

    def _engine(self) -> ServiceEngine:
        if self.engine is None:
            raise DataAnalysisError("the service is not started")
        return self.engine
