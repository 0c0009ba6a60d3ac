"""ServiceEngine: the asyncio core both services run (consume, window, schedule, call, upload, commit).

Data flows one way: the consume loop applies each poll batch to the dispatcher's windows and holds
its messages for the stations it touched; triggered stations enter the scheduler's queue;
`max_concurrency` workers run the callback per station (async callbacks awaited, sync ones on a
bounded thread pool), upload the result (per station, or per REALTIME-DATA batch) and tell the
delivery tracker, which releases messages to the OffsetManager once every station has seen them.
When callbacks fall behind, consumption pauses instead of memory growing without bound.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..batching import BatchCollector, BatchResultAggregator
from ..config import Config
from ..dispatcher import DataDispatcher, IngestReport
from ..errors import error_counts, handle_error
from ..kafka import KafkaMessage, OffsetManager
from ..kafka.transport import AsyncConsumer, AsyncGlobalReader, AsyncProducer
from ..topics import BadInput
from .callbacks import CallbackPool
from .dead_letters import DeadLetterQueue, input_summary, letter_for_message, letter_for_station
from .delivery import DeliveryTracker, Position, positions_of
from .garbage import IdleCollector, young_gc_threshold
from .globals import GlobalTopics
from .handlers import ResultHandler, check_batch_upload_handler, check_callback, resolve_result_handler
from .outputs import batch_output, single_output
from .position_gate import PositionGate
from .scheduler import StationScheduler
from .station_handle import StationHandle

__all__ = ["EngineSettings", "ServiceEngine"]

logger = logging.getLogger("d_a.service")

FETCH_TIMEOUT_MS = 200
CATCH_UP_SECONDS = 5.0  # data no trigger reached gets a run after this long
BATCH_CLEANUP_INTERVAL = 1.0  # how often timed-out batches are looked for
BATCH_RETRY_FIRST = 1.0  # a batch whose upload failed is tried again after this, doubling
BATCH_RETRY_MAX = 30.0
ERROR_PAUSE_SECONDS = 1.0  # after an unexpected error in the consume loop
PAUSE_WARNING_INTERVAL = 60.0  # at most one warning a minute that consumption paused
LATENCY_SAMPLES = 10_000


@dataclass
class EngineSettings:
    """How the engine runs; services fill it from the config and their constructor arguments."""

    module_name: str | None
    topics: list[str]
    output_topic: str | None
    max_concurrency: int
    min_interval: float
    interval: float | None
    required_topics: list[str]
    cleanup_interval: float
    batch_timeout: float
    max_held_messages: int = 200_000
    stop_timeout: float = 30.0
    upload_input: bool = False
    gc_threshold: int | None = None  # Python's generation-0 GC threshold while the engine runs
    idle_gc: bool = False  # collect garbage when no station is queued or running (see garbage.py)
    global_topics: list[str] = field(default_factory=list)  # read by the global reader (see globals.py)
    global_bootstrap_timeout: float = 30.0
    dead_letter_topic: str | None = None  # see dead_letters.py
    dead_letter_after_failures: int = 3
    backlog_runs: str = "newest"  # or "every_batch": see ServiceEngine._pace_backlog_runs
    backlog_max_delay: float = 10.0

    @property
    def consumed_topics(self) -> list[str]:
        """The topics of the service's consumer: all but the global ones."""
        return [t for t in self.topics if t not in self.global_topics]


_PLAIN_RESULTS = frozenset({dict, list, str, int, float, bool, type(None)})  # never awaitable: no ABC check


def _is_async(function: Callable[..., Any]) -> bool:
    """Whether `function` is a coroutine function (inspect's test is slow: asked once per callable)."""
    try:
        return _is_async_cached(function)
    except TypeError:  # an unhashable callable object
        return inspect.iscoroutinefunction(function)


@functools.lru_cache(maxsize=256)
def _is_async_cached(function: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(function)


def oldest_timestamp_ms(messages: list[KafkaMessage]) -> int | None:
    stamps = [m.timestamp_ms for m in messages if m.timestamp_ms is not None]
    return min(stamps) if stamps else None


def percentiles(samples: Iterable[float]) -> dict[str, float | None]:
    """p50/p95/p99 of `samples` (the sample at rank q * n), None when there are none."""
    ordered = sorted(samples)
    if not ordered:
        return {"p50": None, "p95": None, "p99": None}
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99)}


@dataclass(eq=False)
class _BatchRetry:
    """A closed batch whose upload failed: when to try again, and the backoff."""

    collector: BatchCollector
    due: float
    delay: float
    attempts: int = 1


class ServiceEngine:
    """One consumer, one producer, the dispatcher, and the station workers of a service."""

    def __init__(
        self,
        config: Config,
        settings: EngineSettings,
        dispatcher: DataDispatcher,
        consumer: AsyncConsumer,
        producer: AsyncProducer | None,
        *,
        callback: Callable[..., Any] | None,
        result_handler: Callable[..., Any] | None = None,
        batch_upload_handler: Callable[..., Any] | None = None,
        callback_pool: CallbackPool | None = None,
        global_reader: Callable[[list[str]], AsyncGlobalReader] | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.dispatcher = dispatcher
        self.consumer = consumer
        self.producer = producer
        check_callback(callback)
        check_batch_upload_handler(batch_upload_handler)
        self.callback = callback
        self.result_handler: ResultHandler | None = resolve_result_handler(result_handler)
        self.batch_upload_handler = batch_upload_handler
        self.station_callbacks: dict[str, Callable[..., Any]] = {}
        self.station_result_handlers: dict[str, ResultHandler] = {}
        self.callback_pool = callback_pool or CallbackPool(settings.max_concurrency, thread_name_prefix="d_a-callback")
        self.offsets = OffsetManager(consumer, config.offset_commit)
        self.tracker = DeliveryTracker(self._release)
        self.gate = PositionGate(self._mark_done)
        self.dead_letters = (
            DeadLetterQueue(settings.dead_letter_topic, producer, self.gate)
            if settings.dead_letter_topic is not None and producer is not None
            else None
        )
        self.scheduler = StationScheduler(settings.min_interval, self.is_ready)
        self.globals = GlobalTopics(
            global_reader, dispatcher, self.scheduler.trigger, settings.global_bootstrap_timeout
        )
        self.aggregator = BatchResultAggregator(settings.batch_timeout, BATCH_CLEANUP_INTERVAL)
        self.batching = batch_upload_handler is not None or (settings.module_name is not None and producer is not None)
        self._batch_topics = {t for t in settings.topics if config.topics.get(t) and config.topics[t].defines_batch}
        self._batch_sources: dict[BatchCollector, list[Position]] = {}  # per batch: the messages that opened it
        self._batch_retries: list[_BatchRetry] = []  # closed batches whose upload failed
        self._committing: asyncio.Task | None = None  # a commit runs beside the fetches, never before them
        self._tasks: list[asyncio.Task] = []
        self._consumer_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self.counters: dict[str, int] = {
            "messages": 0,
            "bad_messages": 0,
            "callbacks": 0,
            "callback_errors": 0,
            "uploads": 0,
            "upload_errors": 0,
            "batches_completed": 0,
            "batches_timed_out": 0,
            "consumption_pauses": 0,
        }
        self.messages_per_topic: dict[str, int] = dict.fromkeys(settings.topics, 0)
        self.latencies_ms: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self.staleness_ms: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._due_since_ms: dict[str, int] = {}  # per queued station: the oldest message that triggered it
        self.last_message_at: float | None = None
        self.paused_since: float | None = None  # consumption paused because callbacks are behind
        self._deferring_since = 0.0  # when the stations' runs began to wait for the backlog
        self._globals_waiter: asyncio.Task[None] | None = None  # unparks stations once global data is in
        self._pause_warned_at = -math.inf
        self.loop_alive = False
        self.observer: Any = None  # e.g. d_a.metrics.ServiceMetrics: observe_callback / observe_latency
        self.idle_collector: IdleCollector | None = None  # set at start when `idle_gc`
        self._compacting = False  # a compaction step is scheduled (see _idle)
        self._none_noted = False  # a None result was logged (once) as not uploaded

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.consumer.start()
        try:
            if self.producer is not None:
                await self.producer.start()
            try:
                await self.globals.start(self.settings.global_topics)
            except BaseException:
                if self.producer is not None:
                    await self.producer.stop()
                raise
        except BaseException:
            await self.consumer.stop()
            raise
        self.loop_alive = True  # from now on; the loop task clears it if it ever ends
        self._gc_threshold = young_gc_threshold(self.settings.gc_threshold)
        self.idle_collector = IdleCollector() if self.settings.idle_gc else None
        self._tasks = [asyncio.create_task(self._consume_loop(), name="d_a-consume")]
        self._tasks += [
            asyncio.create_task(self._worker(), name=f"d_a-worker-{i}") for i in range(self.settings.max_concurrency)
        ]
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="d_a-housekeeping"))
        if self.dead_letters is not None:
            self._tasks.append(asyncio.create_task(self.dead_letters.run(), name="d_a-dead-letters"))
        logger.info(
            "service started: module=%s, %d topics, output=%s, %d workers",
            self.settings.module_name,
            len(self.settings.topics),
            self.settings.output_topic,
            self.settings.max_concurrency,
        )

    async def stop(self) -> None:
        """Stop fetching, let running callbacks finish (bounded), flush batches, commit, close."""
        self._stopping.set()
        consume, *workers = self._tasks
        await asyncio.gather(consume, return_exceptions=True)
        deadline = time.monotonic() + self.settings.stop_timeout
        while any(s.running for s in self.scheduler.states.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self.dead_letters is not None:
            await self.dead_letters.flush(max(0.0, deadline - time.monotonic()))
        if self._globals_waiter is not None:
            workers.append(self._globals_waiter)
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await self.globals.stop()
        for collector in self.aggregator.drain():
            await self._hand_over(collector)
        await self._retry_batches(force=True)
        await self._commit_done(cancel=True)  # the final commit below covers its offsets
        if self._batch_retries:
            logger.warning(
                "%d batches not uploaded at stop (%s); the messages that opened them stay uncommitted and are "
                "read again at the next start",
                len(self._batch_retries),
                ", ".join(r.collector.batch_id for r in self._batch_retries[:10]),
            )
        await self.offsets.close()
        await self.consumer.stop()
        if self.producer is not None:
            await self.producer.stop()
        self.callback_pool.shutdown(wait=False)
        self.loop_alive = False
        young_gc_threshold(self._gc_threshold)
        logger.info("service stopped: %d callbacks, %d messages", self.counters["callbacks"], self.counters["messages"])

    # -- consuming ---------------------------------------------------------------------------------

    async def _consume_loop(self) -> None:
        """Fetch and apply until stopped; an error is reported and the loop goes on after a pause."""
        try:
            while not self._stopping.is_set():
                if self._held() >= self.settings.max_held_messages:
                    self._pause_consumption()
                    await asyncio.sleep(0.01)  # callbacks are behind: let them catch up first
                    continue
                self.paused_since = None
                try:
                    async with self._consumer_lock:
                        messages = await self.consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS)
                        if messages:
                            self.apply(messages)
                        if self.settings.backlog_runs == "newest":
                            self._pace_backlog_runs()
                        self._commit_soon()
                except Exception as exc:  # noqa: BLE001 - never end the loop; the broker may come back
                    handle_error(exc, context="consume loop")
                    await asyncio.sleep(ERROR_PAUSE_SECONDS)
        finally:
            self.loop_alive = False

    def _pace_backlog_runs(self) -> None:
        """`backlog_runs: newest`: while the consumer is behind its topics' ends, the stations
        the data triggers wait, and each runs once on its newest data when the consumer has caught
        up, so a backlog is not served batch by batch. They run sooner when they have waited
        `backlog_max_delay`, or when the messages held for them reach half of `max_held_messages`
        (consumption would pause). Their messages stay uncommitted until they ran. Behind is what
        the partitions' lag says: a fetch that came back empty is a response still on its way."""
        scheduler = self.scheduler
        behind = self._held() < self.settings.max_held_messages // 2 and self._behind()
        if not behind:
            if scheduler.deferring:
                scheduler.release()
            return
        now = time.monotonic()
        if not scheduler.deferring:
            scheduler.defer()
            self._deferring_since = now
        elif now - self._deferring_since >= self.settings.backlog_max_delay:
            scheduler.release()
            scheduler.defer()
            self._deferring_since = now

    def _behind(self) -> bool:
        """Whether a partition's end offset, as last seen, is beyond the consumer's position."""
        return any(p.get("lag") for partitions in self.consumer.get_lag_info().values() for p in partitions.values())

    def _commit_soon(self) -> None:
        """Commit in a task of its own when a commit is due: a commit can wait for seconds (a
        group rejoining, a slow coordinator), and fetching must not wait with it."""
        if (self._committing is None or self._committing.done()) and self.offsets.should_commit():
            self._committing = asyncio.create_task(self._commit(), name="d_a-commit")

    async def _commit(self) -> None:
        try:
            await self.offsets.maybe_commit()
        except Exception as exc:  # noqa: BLE001 - a failed commit keeps its offsets pending
            handle_error(exc, context="offset commit")

    async def _commit_done(self, *, cancel: bool = False) -> None:
        """Wait for a commit still running, or cancel it (its offsets stay pending for the next)."""
        if self._committing is not None:
            if cancel:
                self._committing.cancel()
            await asyncio.gather(self._committing, return_exceptions=True)
            self._committing = None

    def _held(self) -> int:
        """Messages whose offsets wait: for callbacks, a dead-letter copy or a batch upload."""
        return self.tracker.held_messages + self.gate.holding

    def _pause_consumption(self) -> None:
        """Count a pause when it begins, and warn (at most once a minute)."""
        if self.paused_since is not None:
            return
        now = self.paused_since = time.monotonic()
        self.counters["consumption_pauses"] += 1
        if now - self._pause_warned_at >= PAUSE_WARNING_INTERVAL:
            self._pause_warned_at = now
            logger.warning(
                "consumption paused: module=%s, %d messages held for callbacks not yet run "
                "(max_held_messages %d); callbacks are behind the data (pause %d of this run)",
                self.settings.module_name,
                self.tracker.held_messages,
                self.settings.max_held_messages,
                self.counters["consumption_pauses"],
            )

    async def resubscribe(self, consumer: AsyncConsumer, global_topics: list[str]) -> None:
        """After a config reload: `consumer` reads the station topics, the global reader
        `global_topics` (a global topic new to it is bootstrapped again)."""
        await self.replace_consumer(consumer)
        await self.globals.resubscribe(global_topics)
        self.settings.global_topics = global_topics

    async def replace_consumer(self, consumer: AsyncConsumer) -> None:
        """Switch to a consumer of other topics (after a config reload): commit, close, start anew."""
        async with self._consumer_lock:
            await self._commit_done()
            await self.offsets.close()
            await self.consumer.stop()
            await consumer.start()
            self.consumer = consumer
            self.offsets = OffsetManager(consumer, self.config.offset_commit)
            self.settings.topics = list(consumer.topics)
            self._batch_topics = {
                t for t in consumer.topics if t in self.config.topics and self.config.topics[t].defines_batch
            }

    def apply(self, messages: list[KafkaMessage]) -> None:
        """Apply one poll batch: windows, holds, batches, triggers."""
        arrival = time.time()
        self.last_message_at = time.monotonic()
        self.counters["messages"] += len(messages)
        by_topic: dict[str, list[KafkaMessage]] = {}
        for message in messages:
            self.offsets.begin(message)
            if message.error is not None:
                self.counters["bad_messages"] += 1
                problem = BadInput("not_json", message.error)
                self.dispatcher.bad_input.record(
                    problem, message.topic, partition=message.partition, offset=message.offset
                )
                if self.dead_letters is not None:
                    self.dead_letters.add(letter_for_message(message, [problem], self.settings.module_name))
                self._release(positions_of([message]))
            else:
                by_topic.setdefault(message.topic, []).append(message)
        for topic, batch in by_topic.items():
            self.messages_per_topic[topic] = self.messages_per_topic.get(topic, 0) + len(batch)
            if topic in self._batch_topics:
                for message in batch:
                    report = self.dispatcher.ingest(
                        topic, message.value, arrival=arrival, partition=message.partition, offset=message.offset
                    )
                    self._open_batch(topic, report, message)
                    self._dead_letter([message], report)
                    self._after_ingest([message], report)
            else:
                report = self.dispatcher.ingest_batch(
                    topic, [m.value for m in batch], arrival=arrival, positions=[(m.partition, m.offset) for m in batch]
                )
                self._dead_letter(batch, report)
                self._after_ingest(batch, report)

    def _after_ingest(self, messages: list[KafkaMessage], report: IngestReport) -> None:
        oldest = oldest_timestamp_ms(messages)
        self.tracker.hold(positions_of(messages), [s for s in report.touched if self.is_ready(s)], oldest_ms=oldest)
        for station in report.triggered:
            if self.scheduler.trigger(station) and oldest is not None:
                self._due_since_ms.setdefault(station, oldest)

    def _open_batch(self, topic: str, report: IngestReport, message: KafkaMessage) -> None:
        """Open the batch `message` defines; the message's offset waits for the batch's upload."""
        if self.batching and report.newest_ts is not None and report.touched:
            collector = self.aggregator.open_batch(f"{topic}_{int(report.newest_ts)}", report.touched)
            position = (message.topic, message.partition, message.offset)
            self.gate.hold(position)
            self._batch_sources.setdefault(collector, []).append(position)

    def _dead_letter(self, messages: list[KafkaMessage], report: IngestReport) -> None:
        """Queue a copy of each message with bad input (before the tracker can release it)."""
        if not report.bad or self.dead_letters is None:
            return
        problems: dict[int, list[BadInput]] = {}
        for index, problem in report.bad:
            problems.setdefault(index, []).append(problem)
        for index, found in problems.items():
            self.dead_letters.add(letter_for_message(messages[index], found, self.settings.module_name))

    def _release(self, positions: list[Position]) -> None:
        """Positions every station has seen: done, unless a dead-letter copy still holds one back."""
        self._mark_done(self.gate.released(positions))

    def _mark_done(self, positions: list[Position]) -> None:
        for topic, partition, offset in positions:
            self.offsets.mark_done((topic, partition), offset)

    def is_ready(self, station: str) -> bool:
        """Whether every required topic of the station holds data."""
        return all(self.dispatcher.has_data(station, topic) for topic in self.settings.required_topics)

    # -- running stations --------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            station = await self.scheduler.queue.get()
            state = self.scheduler.states.get(station)
            if state is None:
                continue
            waited, state.waited = state.waited, False
            if not waited and self.globals.must_wait(first_run=state.runs == 0):  # global data first
                self._wait_for_globals(station)
                continue
            await self.run_station(station)
            if self.scheduler.idle:
                self._idle()

    def _wait_for_globals(self, station: str) -> None:
        """Park a station whose run must wait for global data (see globals.py); the workers go on
        with other stations, and the parked ones share the global reader's next round."""
        self.scheduler.park(station)
        if self._globals_waiter is None or self._globals_waiter.done():
            self._globals_waiter = asyncio.create_task(self._unpark_after_globals(), name="d_a-global-wait")

    async def _unpark_after_globals(self) -> None:
        while self.scheduler.parked:
            stations = list(self.scheduler.parked)
            try:
                await self.globals.wait(first_run=True)
            except Exception as exc:  # noqa: BLE001 - the stations run without it rather than never
                handle_error(exc, context="waiting for global topics")
            self.scheduler.unpark(stations)

    def _idle(self) -> None:
        """Work kept for when no station is queued or running: a garbage collector pass, and
        encoding the windows' newest rows (dispatcher.compact), a window per turn of the event
        loop, so that data arriving meanwhile waits for one window's encoding at most."""
        if self.idle_collector is not None:
            self.idle_collector.idle()
        if not self._compacting and self.dispatcher.compaction_due():
            self._compacting = True
            asyncio.get_running_loop().call_soon(self._compact_step)

    def _compact_step(self) -> None:
        if self.scheduler.idle and not self._stopping.is_set() and self.dispatcher.compact():
            asyncio.get_running_loop().call_soon(self._compact_step)
        else:
            self._compacting = False  # the next idle moment starts again

    async def run_station(self, station: str) -> None:
        """One callback run: input, callback, upload / batch report, then release what it saw."""
        self.scheduler.started(station)
        holds = self.tracker.take(station)
        batches = self.aggregator.pending_for(station) if self.batching else []
        due_since = self._due_since_ms.pop(station, None)
        error: str | None = None
        began = time.perf_counter()
        module_input = failed_input = None
        try:
            module_input = self._module_input(station)
            self._observe_delays(due_since, self.tracker.oldest_timestamp_ms(holds))
            result = await self._call(self.station_callbacks.get(station, self.callback), station, module_input)
        except Exception as exc:  # noqa: BLE001 - one station's failure never stops the others
            error = f"{type(exc).__name__}: {exc}"
            self.counters["callback_errors"] += 1
            handle_error(exc, context=f"callback station={station} module={self.settings.module_name}")
            failed_input, result, module_input = module_input, None, None
        self.counters["callbacks"] += 1
        uploaded = await self._deliver(station, module_input, result, batches, failed=error is not None)
        if self.observer is not None:
            self.observer.observe_callback(time.perf_counter() - began, module_input)
        if uploaded:
            self.tracker.seen(station, holds)
        else:
            self.tracker.give_back(station, holds)
        self.scheduler.finished(station, error)
        if error is not None:
            self._note_failure(station, error, failed_input)

    def _note_failure(self, station: str, error: str, module_input: Any) -> None:
        """A station whose callback raised `dead_letter_after_failures` times in a row: a WARNING,
        and its input summary to the dead-letter topic (once per streak)."""
        state = self.scheduler.states.get(station)
        threshold = self.settings.dead_letter_after_failures
        if state is None or state.failures_in_row != threshold:
            return
        logger.warning(
            "station %s: callback of module %s raised %d times in a row (last: %s)%s",
            station,
            self.settings.module_name,
            threshold,
            error,
            "; its input summary goes to the dead-letter topic" if self.dead_letters is not None else "",
        )
        if self.dead_letters is not None:
            summary = input_summary(module_input if isinstance(module_input, Mapping) else None)
            if not summary:  # the input itself could not be built
                with_data = [t for t in self.settings.topics if self.dispatcher.has_data(station, t)]
                summary = {"topics_with_data": with_data}
            self.dead_letters.add(letter_for_station(station, self.settings.module_name, threshold, error, summary))

    def _observe_delays(self, due_since_ms: int | None, oldest_unseen_ms: int | None) -> None:
        """Latency: from the oldest message that triggered this run to the callback. Staleness: from
        the oldest message no callback had seen (it also counts data waiting for its trigger by design,
        e.g. car orders of a second still in progress)."""
        now_ms = time.time() * 1000
        observer = self.observer
        delays = (
            (due_since_ms, self.latencies_ms, observer and observer.observe_latency),
            (oldest_unseen_ms, self.staleness_ms, observer and observer.observe_staleness),
        )
        for since_ms, samples, observe in delays:
            if since_ms is not None:
                delay_ms = max(0.0, now_ms - since_ms)
                samples.append(delay_ms)
                if observe:
                    observe(delay_ms / 1000)

    def _module_input(self, station: str) -> Any:
        if self.settings.module_name is None:
            return self.dispatcher.get_all_inputs(station)
        return self.dispatcher.get_module_input(station, self.settings.module_name)

    async def _call(self, function: Callable[..., Any] | None, *args: Any) -> Any:
        if function is None:
            return None
        if _is_async(function):
            return await function(*args)
        result = await self.callback_pool.run(function, *args)
        return await result if type(result) not in _PLAIN_RESULTS and inspect.isawaitable(result) else result

    async def _deliver(self, station: str, module_input: Any, result: Any, batches: list[str], *, failed: bool) -> bool:
        """Upload or hand over a result; False when a station's upload failed (the data must be seen
        again). A batch whose upload fails is kept and tried again (`_hand_over`)."""
        ok = True
        if batches:
            for batch_id in batches:
                report = self.aggregator.report_failure if failed else self.aggregator.report
                collector = report(batch_id, station) if failed else report(batch_id, station, result)
                if collector is not None:
                    await self._hand_over(collector)
        elif result is not None and not failed and self._uploads_singles():
            message = single_output(
                station, self.settings.module_name or "", result, module_input if self.settings.upload_input else None
            )
            ok = await self._send(message, key=station)
        elif result is None and not failed and not self._none_noted and self._uploads_singles():
            self._none_noted = True
            logger.info(
                "callback returned None for station %s: nothing uploaded to %s (None is no output; the seeds "
                "uploaded the module input instead, see docs/MIGRATION.md); said once",
                station,
                self.settings.output_topic,
            )
        handler = self.station_result_handlers.get(station, self.result_handler)
        if handler is not None and not failed:
            try:
                await self._call(handler.function, *handler.arguments(station, module_input, result))
            except Exception as exc:  # noqa: BLE001
                handle_error(exc, context=f"result_handler station={station}")
        return ok

    def _uploads_singles(self) -> bool:
        return self.producer is not None and self.settings.output_topic is not None

    async def _hand_over(self, collector: BatchCollector) -> None:
        """Upload a closed batch (or hand it to `batch_upload_handler`); one that fails is kept and
        tried again with backoff, and the messages that opened it stay uncommitted meanwhile."""
        if collector.timed_out:
            self.counters["batches_timed_out"] += 1
            logger.warning(
                "batch %s timed out: uploading %d results, missing stations: %s",
                collector.batch_id,
                len(collector.results_list()),
                ", ".join(collector.missing_stations()[:20]) or "none",
            )
        else:
            self.counters["batches_completed"] += 1
        if await self._upload_batch(collector):
            self._batch_uploaded(collector)
            return
        self._batch_retries.append(_BatchRetry(collector, time.monotonic() + BATCH_RETRY_FIRST, BATCH_RETRY_FIRST))
        logger.warning(
            "batch %s: upload failed; its %d results are kept and tried again in %.0f s (the messages that "
            "opened it stay uncommitted)",
            collector.batch_id,
            len(collector.results_list()),
            BATCH_RETRY_FIRST,
        )

    async def _retry_batches(self, *, force: bool = False) -> None:
        """Try again the batches whose upload failed and whose time has come (all with `force`)."""
        now = time.monotonic()
        for retry in [r for r in self._batch_retries if force or r.due <= now]:
            if await self._upload_batch(retry.collector):
                self._batch_retries.remove(retry)
                self._batch_uploaded(retry.collector)
                logger.info("batch %s uploaded after %d failed attempts", retry.collector.batch_id, retry.attempts)
            else:
                retry.attempts += 1
                retry.delay = min(BATCH_RETRY_MAX, retry.delay * 2)
                retry.due = time.monotonic() + retry.delay

    def _batch_uploaded(self, collector: BatchCollector) -> None:
        for position in self._batch_sources.pop(collector, ()):
            self.gate.let_go(position)

    async def _upload_batch(self, collector: BatchCollector) -> bool:
        """One attempt at handing a batch over; False when it failed (counted and logged)."""
        results = collector.results_list()
        if self.batch_upload_handler is not None:
            try:
                await self._call(self.batch_upload_handler, collector.batch_id, results)
            except Exception as exc:  # noqa: BLE001 - kept and tried again
                self.counters["upload_errors"] += 1
                handle_error(exc, context=f"batch_upload_handler batch={collector.batch_id}")
                return False
            return True
        if self.producer is None or self.settings.output_topic is None:
            return True
        return await self._send(batch_output(collector.batch_id, self.settings.module_name or "", results))

    async def _send(self, message: Mapping[str, Any], key: str | None = None) -> bool:
        assert self.producer is not None and self.settings.output_topic is not None
        try:
            await self.producer.send(self.settings.output_topic, message, key=key)
        except Exception as exc:  # noqa: BLE001 - counted; the data is seen again and re-uploaded
            self.counters["upload_errors"] += 1
            handle_error(exc, context=f"upload to {self.settings.output_topic}")
            return False
        self.counters["uploads"] += 1
        return True

    # -- housekeeping ------------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        """Expiry, batch timeouts, seconds complete by the clock, periodic and catch-up runs,
        time-based commits."""
        last_interval = last_expiry = time.monotonic()
        was_paused = False
        while not self._stopping.is_set():
            await asyncio.sleep(min(0.2, self.aggregator.cleanup_interval))
            try:
                now = time.monotonic()
                self._close_due_seconds(held=was_paused)
                was_paused = self.paused_since is not None
                if self.aggregator.due_for_cleanup():
                    for collector in self.aggregator.cleanup_expired():
                        await self._hand_over(collector)
                if self._batch_retries:
                    await self._retry_batches()
                if now - last_expiry >= self.settings.cleanup_interval:
                    last_expiry = now
                    for station in self.dispatcher.clean_expired():
                        self.forget_station(station)
                for station in self.tracker.stations_waiting_since(now - CATCH_UP_SECONDS):
                    if not self.scheduler.trigger(station):
                        self.tracker.forget(station)
                if self.settings.interval is not None and now - last_interval >= self.settings.interval:
                    last_interval = now
                    self.scheduler.trigger_all(self.dispatcher.stations())
                self._commit_soon()
            except Exception as exc:  # noqa: BLE001
                handle_error(exc, context="service housekeeping")

    def _close_due_seconds(self, *, held: bool) -> None:
        """Run the stations whose newest second of car orders (a per_second topic) is now complete by
        the clock. Not while consumption is paused, nor in the first pass after it resumed (`held`):
        records still unread then may belong to those seconds (nor in runs' inputs meanwhile)."""
        self.dispatcher.close_by_clock = self.paused_since is None and not held
        for station in self.dispatcher.close_due_seconds():
            self.scheduler.trigger(station)

    def add_station(
        self, station: str, callback: Callable[..., Any] | None = None, handler: Callable[..., Any] | None = None
    ) -> None:
        """Serve `station` now, with a callback and result handler of its own when given."""
        check_callback(callback)
        resolved = resolve_result_handler(handler)
        if callback is not None:
            self.station_callbacks[station] = callback
        if resolved is not None:
            self.station_result_handlers[station] = resolved
        self.scheduler.trigger(station)

    def forget_station(self, station: str) -> None:
        self.tracker.forget(station)
        self._due_since_ms.pop(station, None)
        self.scheduler.remove(station)
        self.station_callbacks.pop(station, None)
        self.station_result_handlers.pop(station, None)

    # -- status ------------------------------------------------------------------------------------

    def latency_percentiles(self) -> dict[str, float | None]:
        """p50/p95/p99 of the latest latency samples (ms, from triggering message to callback)."""
        return percentiles(self.latencies_ms)

    def staleness_percentiles(self) -> dict[str, float | None]:
        """p50/p95/p99 of the latest staleness samples (ms, from oldest unseen message to callback)."""
        return percentiles(self.staleness_ms)

    def status(self) -> dict[str, Any]:
        age = None if self.last_message_at is None else time.monotonic() - self.last_message_at
        return {
            "main_loop_alive": self.loop_alive,
            "main_thread_alive": self.loop_alive,
            "consumer_alive": self.consumer.connected,
            "producer_alive": None if self.producer is None else self.producer.connected,
            "station_count": len(self.dispatcher.stations()),
            "queue_depth": self.scheduler.queue.qsize(),
            "stations_waiting_for_backlog": len(self.scheduler.deferred),
            "running_callbacks": self.scheduler.running,
            "held_messages": self.tracker.held_messages,
            "consumption_paused_seconds": None if self.paused_since is None else time.monotonic() - self.paused_since,
            "seconds_since_last_message": age,
            "open_batches": self.aggregator.open_batches,
            "batches_waiting_retry": len(self._batch_retries),
            "result_handler_registered": self.result_handler is not None,
            "failing_stations": self._failing_stations(),
            "dead_letters": None if self.dead_letters is None else self.dead_letters.status(),
            "batch_upload_handler_registered": self.batch_upload_handler is not None,
            "counters": self._counters(),
            "messages_per_topic": {**self.messages_per_topic, **self.globals.messages},
            "global_topics": self.globals.status(),
            "bad_input": self.dispatcher.bad_input.by_kind(),
            "errors": error_counts(),
            "latency_ms": self.latency_percentiles(),
            "staleness_ms": self.staleness_percentiles(),
            "offsets_committed": self.offsets.commits,
            "lag": self._lag(),
            "idle_gc_passes": None if self.idle_collector is None else list(self.idle_collector.passes),
        }

    def _failing_stations(self) -> dict[str, dict[str, Any]]:
        """Stations whose callback raised `dead_letter_after_failures` times in a row or more."""
        threshold = self.settings.dead_letter_after_failures
        return {
            station: {"failures_in_row": state.failures_in_row, "last_error": state.last_error}
            for station, state in self.scheduler.states.items()
            if state.failures_in_row >= threshold
        }

    def _counters(self) -> dict[str, int]:
        """The engine's counters, with the global reader's messages and the dead letters sent."""
        counters = dict(self.counters)
        counters["dead_letters"] = 0 if self.dead_letters is None else self.dead_letters.sent
        counters["messages"] += sum(self.globals.messages.values())
        counters["bad_messages"] += self.globals.bad_messages
        return counters

    def _lag(self) -> dict[str, Any]:
        try:
            return self.consumer.get_lag_info()
        except Exception:  # noqa: BLE001 - a status read must not fail because a client is closing
            return {}

    def serves(self, station: str) -> bool:
        """Whether the running service serves `station` (it holds data or was added)."""
        return self.loop_alive and (station in self.scheduler.states or self.dispatcher.has_station(station))

    def station_status(self, stop: Callable[[str], None]) -> dict[str, dict[str, Any]]:
        """Per station: the seeds' `running` (served) and `task` / `future` (a StationHandle whose
        `cancel` calls `stop`), plus whether it is ready, queued or in its callback, and counters."""
        stations = dict.fromkeys([*self.dispatcher.stations(), *self.scheduler.states])
        status = {}
        for station in stations:
            state = self.scheduler.states.get(station)
            handle = StationHandle(station, self.serves, stop)
            status[station] = {
                "running": self.serves(station),
                "task": handle,
                "future": handle,
                "ready": self.is_ready(station),
                "in_callback": state is not None and state.running,
                "queued": state is not None and state.queued,
                "runs": 0 if state is None else state.runs,
                "errors": 0 if state is None else state.errors,
                "failures_in_row": 0 if state is None else state.failures_in_row,
                "last_error": None if state is None else state.last_error,
            }
        return status
