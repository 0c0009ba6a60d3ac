"""DataDispatcher: per-station windows of every topic, and the module inputs built from them.

Messages come in through `ingest` (a whole decoded message: split, routed, parsed, written per
station in one batch) or the original d_a's `update_topic_data` (one station's data). The windows
are kept by StationWindows (global topics once, for every station; per_second seconds completed
by the clock: `close_due_seconds`, and `get_module_input` for the station it reads). Every method
is thread-safe (one re-entrant lock: a model's thread may ask for inputs while the service
ingests); bad input is counted and logged by `bad_input`, never raised.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any

from .config import PADDING_STRATEGIES, Config, ConfigSource, load_config, reread
from .errors import DispatcherError, handle_error
from .inputs import TopicInputCache
from .modules import InputAssembly, ModuleParser, module_parser
from .modules.seed_input import seed_module_input
from .parser_base import ParserBase
from .topics import BadInput, BadInputLog, StationRecord, StationRouter, TopicParser, build_parsers
from .topics.registry import TOPIC_PARSER_MAP, ParserSpec, ParserTable
from .windows import Window, WindowSpec
from .windows.pending import PendingEncoder
from .windows.spec import window_spec
from .windows.stations import StationWindows

__all__ = ["TOPIC_PARSER_MAP", "DataDispatcher", "IngestReport"]

logger = logging.getLogger("d_a.dispatcher")

WINDOW_FORMATS = ("list", "numpy")


@dataclasses.dataclass
class IngestReport:
    """What applying messages did: stations whose windows changed enough to run (`triggered`),
    stations whose windows received data (`touched`), the newest record time seen, and the bad
    input found (`bad`: the message's index in the batch, and the problem)."""

    triggered: set[str] = dataclasses.field(default_factory=set)
    touched: set[str] = dataclasses.field(default_factory=set)
    newest_ts: float | None = None
    bad: list[tuple[int, BadInput]] = dataclasses.field(default_factory=list)


class DataDispatcher:
    """Windows per station and topic, and the module inputs built from them."""

    def __init__(
        self,
        data_expire_seconds: float = 600,
        config: ConfigSource = None,
        *,
        window_format: str | None = None,
        clock: Callable[[], float] = time.time,
        defer_encoding: bool = False,
    ) -> None:
        self.lock = threading.RLock()
        self.data_expire_seconds = data_expire_seconds
        self.clock = clock
        self.router = StationRouter()
        self.bad_input = BadInputLog()
        self._topic_padding: dict[str, str | None] = {}
        self._topic_parser_overrides: dict[str, ParserSpec] = {}
        self._module_parser_overrides: dict[str, ParserBase] = {}
        self.close_by_clock = True  # False: seconds complete only by newer records (see close_due_seconds)
        self._source = config
        config_now = load_config(config)
        # `defer_encoding`: windows leave encoding their pending rows to `encode_pending` (a service calls it when idle)
        self.windows = StationWindows(
            _window_specs(config_now), PendingEncoder() if defer_encoding else None, self._note_new_station
        )
        self._apply_config(config_now)
        self.padding_strategy: str | None = self.config.service.padding_strategy
        self.window_format = self._checked_format(window_format or self.config.service.window_format)

    @property
    def data_cache(self) -> dict[str, dict[str, Window]]:
        """`{station: {topic: window}}`: the original d_a's name of the stations' windows."""
        return self.windows.by_station

    # -- the original d_a's API ----------------------------------------------------------------

    def update_topic_data(self, station_id: str, topic: str, raw_data: Any, timestamp: float | None = None) -> bool:
        """Add one station's data of `topic`; True when the station should be processed now.

        `raw_data` is one record, a list of records, or a whole message of the topic (then it
        replaces a `replace` window). `timestamp` overrides the records' own time. Bad input is
        counted and logged, and gives False.
        """
        parser = self._parser(topic)
        if parser is None:
            return False
        arrival = self.clock()
        whole, result = parser.records_for(str(station_id), raw_data, arrival, timestamp)
        for problem in result.problems:
            self.bad_input.record(problem, topic)
        if not result.records:
            return False
        parser.accepted(result.records)
        return bool(self._store(topic, result.records, whole=whole, arrival=arrival))

    def get_topic_window(self, station_id: str, topic: str) -> list[dict]:
        """The window's records, oldest first ([] when the station or topic has none)."""
        with self.lock:
            window = self._window(station_id, topic)
            return window.records() if window is not None else []

    def get_module_input(self, station_id: str, module: str) -> dict[str, Any] | None:
        """`module`'s input for the station; None when its module parser fails (logged).

        A per_second topic's second that is complete by the clock now is closed first, so a
        caller reading later than its due time gets it (`car_orders`) without a newer record."""
        with self.lock:
            if module not in self.config.module_to_topics:
                raise DispatcherError(f"unknown module {module!r}; configured: {', '.join(self.config.modules)}")
            now = self.clock()
            if self.close_by_clock and self.windows.clocked:
                self.windows.close_due_of(station_id, now)
            try:
                parser = self._module_parser_overrides.get(module) or module_parser(module)
                if not isinstance(parser, ModuleParser):
                    return seed_module_input(self.config, module, parser, self.windows.reader(station_id))
                data = self._assembly(station_id, module).build(
                    station_id,
                    self.windows.reader(station_id),
                    self.padding_for,
                    now,
                    self.input_cache,
                )
                return parser.parse(data)
            except Exception as exc:  # noqa: BLE001 - only this module's input is lost
                handle_error(
                    DispatcherError(f"module input of {module} failed: {exc!r}"),
                    context=f"station={station_id} module={module}",
                )
                return None

    def get_all_inputs(self, station_id: str) -> dict[str, dict[str, Any] | None]:
        """`{module: input}` for every configured module, in dependency order."""
        with self.lock:
            return {module: self.get_module_input(station_id, module) for module in self.config.modules}

    def clean_expired(self) -> list[str]:
        """Empty windows idle for longer than their expiry; drop stations left with nothing.

        A topic's `expire_seconds` overrides `data_expire_seconds`; per-device windows expire
        device by device. Returns the stations removed.
        """
        now = self.clock()
        with self.lock:
            removed = self.windows.expire(now, self._expiry)
            for station_id in removed:
                self.remove_station(station_id)
        if removed:
            logger.info("expired %d stations with no data left (e.g. %s)", len(removed), removed[0])
        return removed

    def reload_config(self, config_mod: ConfigSource = None) -> None:
        """Apply a new configuration (default: read the original source again); windows keep their data.

        New topics take effect, removed ones are dropped, a resized window keeps its newest
        records, and a topic whose window shape changed is rebuilt from the records it held.
        """
        if config_mod is not None:
            self._source = config_mod
        config = load_config(reread(self._source))
        with self.lock:
            old_specs = self.windows.specs
            self._apply_config(config)
            self.windows.refit(old_specs)
        logger.info(
            "configuration reloaded from %s: %d topics, %d modules",
            config.source,
            len(config.topics),
            len(config.modules),
        )

    def set_padding_strategy(self, strategy: str | None, topic: str | None = None) -> None:
        """Pad windows to `window_size` with `strategy` (zero / linear / forward / missing).

        Without `topic` it is the global strategy; with one it overrides that topic only. None
        turns padding off (windows return what they hold).
        """
        if strategy is not None and strategy not in PADDING_STRATEGIES:
            raise ValueError(f"unknown padding strategy {strategy!r}; use one of {', '.join(PADDING_STRATEGIES)}")
        with self.lock:
            if topic is None:
                self.padding_strategy = strategy
            else:
                if topic not in self.config.topics:
                    raise DispatcherError(f"unknown topic {topic!r}")
                self._topic_padding[topic] = strategy

    @property
    def topic_parsers(self) -> ParserTable:
        """Topic -> the parser of its messages; set an entry to parse a topic with a parser of your
        own (a ParserBase with the original d_a's `parse(raw_data)`, or a TopicParser subclass)."""
        return ParserTable(lambda: dict(self._parsers), self._topic_parser_overrides, self._rebuild_parsers)

    @property
    def module_parsers(self) -> ParserTable:
        """Module -> the parser of its inputs; set an entry to build a module's input with a parser
        of your own (a ModuleParser, or a ParserBase receiving the original d_a's `{topic: window}` form)."""
        return ParserTable(self._module_parsers_in_use, self._module_parser_overrides, lambda: None)

    @property
    def parsers(self) -> ParserTable:
        """The original d_a's name of `module_parsers`."""
        return self.module_parsers

    # -- the service's path ----------------------------------------------------------------------

    def ingest(
        self,
        topic: str,
        value: Any,
        *,
        arrival: float | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> IngestReport:
        """Apply one decoded message: which stations it triggers and touches (global data: all)."""
        return self.ingest_batch(topic, [value], arrival=arrival, positions=[(partition, offset)])

    def ingest_batch(
        self,
        topic: str,
        values: Sequence[Any],
        *,
        arrival: float | None = None,
        positions: Sequence[tuple[int | None, int | None]] | None = None,
        store: bool | Container[str] = True,
    ) -> IngestReport:
        """Apply a poll batch of one topic's decoded messages, one window write per station.

        `positions` gives each message's (partition, offset) for bad-input logs. Messages of a
        `replace` topic each replace their stations' windows. `store` False: the windows hold these
        messages already (restored from a checkpoint); the report names their stations as touched
        and triggered, and nothing is written. `store` a set of stations: only their records are
        written (windows being rebuilt), the others are treated as with False.
        """
        report = IngestReport()
        first = positions[0] if positions else (None, None)
        parser = self._parser(topic, partition=first[0], offset=first[1])
        if parser is None:
            problem = BadInput("unknown_topic", f"{topic!r} is not configured")
            report.bad.extend((i, problem) for i in range(len(values)))
            return report
        arrival = self.clock() if arrival is None else arrival
        replace = self.config.topics[topic].kind == "replace"
        pending: list[StationRecord] = []
        for i, value in enumerate(values):
            result = parser.station_records(value, arrival)
            if result.problems:
                partition, offset = positions[i] if positions else (None, None)
                for problem in result.problems:
                    self.bad_input.record(problem, topic, partition=partition, offset=offset)
                    report.bad.append((i, problem))
            if not result.records:
                continue
            parser.accepted(result.records)
            records = result.records
            if store is not True:
                held = records if store is False else [r for r in records if r.station_id not in store]
                _note_stations(held, self.windows.by_station, report)
                records = [] if store is False else [r for r in records if r.station_id in store]
                if not records:
                    continue
            if replace:
                self._store(topic, records, whole=True, arrival=arrival, report=report)
            else:
                pending.extend(records)
        if pending:
            self._store(topic, pending, whole=False, arrival=arrival, report=report)
        return report

    def restore_windows(
        self, stations: Mapping[str, Mapping[str, Window]], global_windows: Mapping[str, Window] | None = None
    ) -> set[str]:
        """Take windows back from a checkpoint (d_a.state), replacing what they replace; each
        topic's parser learns from them what it learns from new records (station devices). The
        stations some of whose windows were refitted to a changed configuration."""
        refitted_stations: set[str] = set()
        with self.lock:
            for topic, window in (global_windows or {}).items():
                self.windows.restore_global(topic, window)
            for station_id, windows in stations.items():
                self.input_cache.forget(self.windows.remove(station_id))
                self._assemblies.pop(station_id, None)
                dropped, refitted = self.windows.restore(station_id, windows)
                if refitted:
                    refitted_stations.add(station_id)
                if dropped:
                    logger.warning(
                        "station %s: saved windows of topics no longer configured dropped: %s",
                        station_id,
                        ", ".join(dropped),
                    )
                for topic, window in self.windows.by_station[station_id].items():
                    parser = self._parser(topic)
                    if parser is not None and type(parser).accepted is not TopicParser.accepted:
                        records = [StationRecord(station_id, record, ts) for record, ts in window]
                        parser.accepted(records)
        return refitted_stations

    def remove_station(self, station_id: str) -> None:
        """Drop a station's windows and what was derived from them."""
        with self.lock:
            self.input_cache.forget(self.windows.remove(station_id))
            self._assemblies.pop(station_id, None)

    def padding_for(self, topic: str) -> str | None:
        """The padding strategy in force for a topic (its override, its config, or the global one)."""
        if topic in self._topic_padding:
            return self._topic_padding[topic]
        return self.config.topics[topic].padding or self.padding_strategy

    def has_data(self, station_id: str, topic: str) -> bool:
        """Whether the station's window of `topic` (or the global one) holds any record."""
        with self.lock:
            window = self._window(station_id, topic)
            return window is not None and len(window) > 0

    def has_station(self, station_id: str) -> bool:
        """Whether the station holds windows."""
        return station_id in self.windows.by_station

    def stations(self) -> list[str]:
        """Stations that hold data, in order of first appearance."""
        with self.lock:
            return list(self.windows.by_station)

    def global_topics(self) -> list[str]:
        """Global topics that hold data."""
        with self.lock:
            return [t for t, w in self.windows.global_windows.items() if len(w)]

    def close_due_seconds(self, now: float | None = None) -> set[str]:
        """Complete the per_second windows' newest seconds that are complete by the clock at `now`
        (default: the dispatcher's clock, which stamps arrivals unless `ingest` is given them); the
        stations whose completed second thereby changed, to run (a global window's: every station).
        A service calls it a few times a second; a library user may, or just read later
        (`get_module_input` closes a station's due seconds itself).

        With `close_by_clock` False nothing closes (a service clears it while its consumption is
        paused: records not read yet may belong to the open seconds)."""
        stations: set[str] = set()
        if not self.close_by_clock:
            return stations
        with self.lock:
            now = self.clock() if now is None else now
            for station_id in self.windows.close_due(now):
                stations.update(self.windows.by_station if station_id is None else (station_id,))
        return stations

    def encoding_due(self) -> bool:
        """Whether windows hold rows to encode (only with `defer_encoding`)."""
        encoder = self.windows.encoder
        return encoder is not None and len(encoder) > 0

    def encode_pending(self) -> bool:
        """Encode one window's waiting rows (with `defer_encoding`); whether more are due.

        A call costs about as much as building a few module inputs: a service makes one per
        turn of its event loop while it has no station to serve."""
        encoder = self.windows.encoder
        if encoder is None:
            return False
        with self.lock:
            encoder.encode_one()
            return len(encoder) > 0

    # -- internals -------------------------------------------------------------------------------

    def _apply_config(self, config: Config) -> None:
        self.config = config
        self.input_cache = TopicInputCache()
        self._assemblies: dict[str, dict[str, InputAssembly]] = {}  # station -> module -> its last input
        self._parsers: dict[str, TopicParser] = build_parsers(config.topics, self.router, self._topic_parser_overrides)
        self.windows.set_specs(_window_specs(config))

    def _rebuild_parsers(self) -> None:
        with self.lock:
            self._parsers = build_parsers(self.config.topics, self.router, self._topic_parser_overrides)

    def _module_parsers_in_use(self) -> dict[str, ParserBase]:
        return {m: self._module_parser_overrides.get(m) or module_parser(m) for m in self.config.modules}

    def _parser(self, topic: str, **where: int | None) -> TopicParser | None:
        parser = self._parsers.get(topic)
        if parser is None:
            self.bad_input.record(BadInput("unknown_topic", f"{topic!r} is not configured"), topic, **where)
        return parser

    def _assembly(self, station_id: str, module: str) -> InputAssembly:
        """The station's kept input of `module` (a new one for a station without windows, not kept)."""
        if station_id not in self.windows.by_station:
            return InputAssembly(self.config, module, self.window_format)
        assemblies = self._assemblies.setdefault(station_id, {})
        assembly = assemblies.get(module)
        if assembly is None or assembly.fmt != self.window_format:
            assembly = assemblies[module] = InputAssembly(self.config, module, self.window_format)
        return assembly

    def _window(self, station_id: str, topic: str) -> Window | None:
        return self.windows.get(station_id, topic)

    def _store(
        self,
        topic: str,
        records: list[StationRecord],
        *,
        whole: bool,
        arrival: float,
        report: IngestReport | None = None,
    ) -> set[str]:
        """Write records to their stations' windows, one batch per station; the triggered stations."""
        report = report if report is not None else IngestReport()
        by_station: dict[str | None, list[StationRecord]] = {}
        for item in records:
            by_station.setdefault(item.station_id, []).append(item)
        replace = whole and self.config.topics[topic].kind == "replace"
        windows = self.windows
        clocked = topic in windows.clocked
        with self.lock:
            for station_id, items in by_station.items():
                window = windows.ensure(station_id, topic)
                rows, times = [i.record for i in items], [i.ts for i in items]
                changed = window.replace(rows, times, arrival) if replace else window.add_pending(rows, times, arrival)
                if clocked:
                    windows.wrote(station_id, topic, window)
                stations = windows.by_station if station_id is None else (station_id,)
                report.touched.update(stations)
                if changed:
                    report.triggered.update(stations)
                newest = max(times)
                if report.newest_ts is None or newest > report.newest_ts:
                    report.newest_ts = newest
        return report.triggered

    def _note_new_station(self, station_id: str, topic: str) -> None:
        known = self.router.known_stations
        if known and station_id not in known:
            detail = "not listed by SCHEDULE-STATION-PARAM; its data is kept"
            note = BadInput("unknown_station", detail, station=station_id)
            note.kept = True
            self.bad_input.record(note, topic)

    def _expiry(self, topic: str) -> float:
        topic_config = self.config.topics.get(topic)
        if topic_config is not None and topic_config.expire_seconds is not None:
            return topic_config.expire_seconds
        return self.data_expire_seconds

    @staticmethod
    def _checked_format(fmt: str) -> str:
        if fmt not in WINDOW_FORMATS:
            raise ValueError(f"unknown window_format {fmt!r}; use one of {', '.join(WINDOW_FORMATS)}")
        return fmt


def _note_stations(records: list[StationRecord], stations: Mapping[str, Any], report: IngestReport) -> None:
    """Report the records' stations as touched and triggered (global records: every station)."""
    for item in records:
        touched = stations if item.station_id is None else (item.station_id,)
        report.touched.update(touched)
        report.triggered.update(touched)
        if report.newest_ts is None or item.ts > report.newest_ts:
            report.newest_ts = item.ts


def _window_specs(config: Config) -> dict[str, WindowSpec]:
    return {name: window_spec(topic) for name, topic in config.topics.items()}
