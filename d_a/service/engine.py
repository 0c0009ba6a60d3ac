"""ServiceEngine: the asyncio core both services run (consume, window, schedule, call, upload, commit).

Data flows one way: the consume loop applies each poll batch to the dispatcher's windows and holds
its messages for the stations it touched; triggered stations enter the scheduler's queue;
`max_workers` workers run the callback per station (`StationCallbacks`), hand the result to the
`ResultUploader` (per station, or per REALTIME-DATA batch) and tell the delivery tracker, which
releases messages to the OffsetManager once every station has seen them. `FlowControl` pauses
fetching when callbacks fall behind and lets runs wait while a backlog is read; `IdleWork` uses the
moments with nothing to run; `EngineStats` counts; `GlobalTopics` reads the global topics.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Container, Mapping
from typing import Any

from ..config import Config
from ..dispatcher import DataDispatcher, IngestReport
from ..errors import handle_error
from ..kafka import KafkaMessage
from ..kafka.message import TopicPartition
from ..kafka.transport import AsyncConsumer, AsyncGlobalReader, AsyncProducer
from ..state import CheckpointStore
from ..topics import BadInput
from .callbacks import CallbackPool
from .checkpointing import StateKeeper
from .dead_letters import DeadLetterQueue, input_summary, letter_for_message, letter_for_station
from .delivery import DeliveryTracker, newest_timestamp_ms, oldest_timestamp_ms, positions_of
from .flow import FlowControl
from .globals import GlobalTopics
from .handlers import StationCallbacks, check_batch_upload_handler
from .idle import IdleWork
from .intake import Intake
from .ownership import StationOwnership
from .scheduler import StationScheduler
from .settings import EngineSettings
from .slot_states import SlotStates
from .stats import EngineObserver, EngineStats
from .status import engine_status, station_status
from .tails import Tails
from .uploads import ResultUploader

__all__ = ["EngineSettings", "ServiceEngine"]

logger = logging.getLogger("d_a.service")

FETCH_TIMEOUT_MS = 200
CATCH_UP_SECONDS = 5.0  # data no trigger reached gets a run after this long
ERROR_PAUSE_SECONDS = 1.0  # after an unexpected error in the consume loop
HOUSEKEEPING_SECONDS = 0.2


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
        observer: EngineObserver | None = None,
        checkpoints: CheckpointStore | None = None,
        sources: Mapping[str, str] | None = None,
        slots: int = 0,
    ) -> None:
        check_batch_upload_handler(batch_upload_handler)
        self.settings = settings
        service = settings.service
        self.dispatcher = dispatcher
        self.intake = Intake(consumer, config.offset_commit)
        self.sources = dict(sources or {})  # {by-station topic: the configured topic it holds} (scale-out)
        self.producer = producer
        pool = callback_pool or CallbackPool(service.max_workers, thread_name_prefix="d_a-callback")
        self.callbacks = StationCallbacks(callback, result_handler, pool)
        self.stats = EngineStats(settings.topics, observer)
        self.tracker = DeliveryTracker(self.intake.release)
        gate = self.intake.gate
        self.dead_letters = (
            DeadLetterQueue(service.dead_letter_topic, producer, gate)
            if service.dead_letter_topic is not None and producer is not None
            else None
        )
        self.scheduler = StationScheduler(service.min_interval, self.is_ready)
        self.globals = GlobalTopics(global_reader, dispatcher, self.scheduler, service.global_bootstrap_timeout)
        self.uploads = ResultUploader(
            producer,
            settings.output_topic,
            settings.module_name,
            batch_timeout=service.batch_timeout,
            upload_input=service.upload_input,
            batch_upload_handler=batch_upload_handler,
            gate=gate,
            stats=self.stats,
            call=self.callbacks.call,
        )
        self.tails = Tails()  # what is read again (after a restore, or a partition moved here)
        self.state: StateKeeper | SlotStates | None = None
        self.ownership: StationOwnership | None = None
        if service.scale_out:
            slot_states = (
                None
                if checkpoints is None
                else SlotStates(
                    checkpoints.directory, dispatcher, service, self.tails, lambda: self.intake.offsets, slots
                )
            )
            self.state = slot_states
            self.ownership = StationOwnership(
                self.tails,
                service.restore_horizon_seconds or 0.0,
                lambda: self.intake.offsets,
                self._lose,
                self._stations_here,
                slots,
                slot_states,
            )
        elif checkpoints is not None:
            self.state = StateKeeper(
                checkpoints,
                dispatcher,
                service.checkpoint_interval_seconds,
                service.restore_horizon_seconds,
                service.checkpoint_whole_every,
                tails=self.tails,
            )
        self.flow = FlowControl(
            settings, self.scheduler, self.tracker, gate, self.stats, self.intake.behind, self._replaying
        )
        self._stopping = asyncio.Event()
        self.idle = IdleWork(dispatcher, self.scheduler, self._stopping.is_set)
        self._tasks: list[asyncio.Task] = []

    @property
    def aggregator(self) -> Any:
        """The batch aggregator (its `batch_timeout` and `cleanup_interval` can be changed)."""
        return self.uploads.aggregator

    @property
    def loop_alive(self) -> bool:
        """Whether the consume loop runs (started and not ended)."""
        return bool(self._tasks) and not self._tasks[0].done()

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.state is not None:
            await self.state.restore(self.intake.offsets)
        if self.ownership is not None:
            self.intake.consumer.start_from(self.ownership)
        elif isinstance(self.state, StateKeeper):
            self.intake.consumer.start_from(self.state)
        await self.intake.start()
        try:
            if self.ownership is not None:
                self.ownership.check(self.intake.consumer.partition_counts())
            if self.producer is not None:
                await self.producer.start()
            try:
                await self.globals.start(self.settings.global_topics)
            except BaseException:
                if self.producer is not None:
                    await self.producer.stop()
                raise
        except BaseException:
            await self.intake.consumer.stop()
            raise
        self.idle.start(self.settings.service.gc_threshold, self.settings.service.idle_gc)
        self.flow.after_fetch()  # runs wait from the first fetch on while a replay is due
        self._tasks = [asyncio.create_task(self._consume_loop(), name="d_a-consume")]
        workers = self.settings.service.max_workers
        self._tasks += [asyncio.create_task(self._worker(), name=f"d_a-worker-{i}") for i in range(workers)]
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="d_a-housekeeping"))
        if self.dead_letters is not None:
            self._tasks.append(asyncio.create_task(self.dead_letters.run(), name="d_a-dead-letters"))
        logger.info(
            "service started: module=%s, %d topics, output=%s, %d workers",
            self.settings.module_name,
            len(self.settings.topics),
            self.settings.output_topic,
            self.settings.service.max_workers,
        )

    async def stop(self) -> None:
        """Stop fetching, let running callbacks finish (bounded), flush batches, commit, close."""
        self._stopping.set()
        consume, *workers = self._tasks
        await asyncio.gather(consume, return_exceptions=True)
        deadline = time.monotonic() + self.settings.service.stop_timeout
        while self.scheduler.running and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self.dead_letters is not None:
            await self.dead_letters.flush(max(0.0, deadline - time.monotonic()))
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await self.globals.stop()
        await self.uploads.drain()
        if self.state is not None:
            await self.state.final_round(self.intake.offsets)
        await self.intake.stop()
        if self.producer is not None:
            await self.producer.stop()
        self.callbacks.pool.shutdown(wait=False)
        self.idle.stop()
        logger.info(
            "service stopped: %d callbacks, %d messages",
            self.stats.counters["callbacks"],
            self.stats.counters["messages"],
        )

    async def abort(self) -> None:
        """Stop at once, as a killed process would (tests of crashes use it): tasks cancelled,
        running callbacks abandoned, nothing flushed, nothing committed."""
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.state is not None:
            await self.state.abandon()
        await self.intake.offsets.settle(cancel=True)
        await self.globals.stop()
        await self.intake.consumer.stop()
        if self.producer is not None:
            await self.producer.stop()
        self.callbacks.pool.shutdown(wait=False)
        self.idle.stop()

    async def resubscribe(self, consumer: AsyncConsumer, global_topics: list[str]) -> None:
        """After a config reload: `consumer` reads the station topics, the global reader
        `global_topics` (a global topic new to it is bootstrapped again)."""
        await self.replace_consumer(consumer)
        await self.globals.resubscribe(global_topics)
        self.settings = dataclasses.replace(self.settings, global_topics=tuple(global_topics))

    async def replace_consumer(self, consumer: AsyncConsumer) -> None:
        """Switch to a consumer of other topics (after a config reload): commit, close, start anew.
        With scale-out the new consumer joins the group afresh: the stations held are dropped and
        those of the slots it is given rebuilt."""
        if self.ownership is not None:
            self.ownership.partitions_lost(sorted(self.ownership.held))
            consumer.start_from(self.ownership)
        await self.intake.replace(consumer)
        self.settings = dataclasses.replace(self.settings, topics=tuple(consumer.topics))

    # -- consuming ---------------------------------------------------------------------------------

    async def _consume_loop(self) -> None:
        """Fetch and apply until stopped; an error is reported and the loop goes on after a pause."""
        while not self._stopping.is_set():
            if self.flow.must_pause():
                await asyncio.sleep(0.01)  # callbacks are behind: let them catch up first
                continue
            try:
                async with self.intake.lock:
                    messages = await self.intake.fetch(FETCH_TIMEOUT_MS)
                    if messages:
                        self.apply(messages)
                    self.flow.after_fetch()
                    self.intake.offsets.commit_soon()
                # a client may hand over records it fetched before without awaiting anything: the
                # stations this batch triggered get their turn before the next batch is applied
                await asyncio.sleep(0)
            except Exception as exc:  # noqa: BLE001 - never end the loop; the broker may come back
                handle_error(exc, context="consume loop")
                await asyncio.sleep(ERROR_PAUSE_SECONDS)

    def apply(self, messages: list[KafkaMessage]) -> None:
        """Apply one poll batch: windows, holds, batches, triggers."""
        if self.tails:  # read again after a restore, or moved here (see tails.py)
            split = self.tails.split(messages)
            state = self.state
            if split.rebuilt:
                self._apply(split.rebuilt, store=True if state is None else state.rebuilt_stations, run=False)
            if split.replayed:
                self._apply(split.replayed, run=False)
            if split.routed:
                self._apply(split.routed, store=True if state is None else state.routed_stations)
            if split.moved:
                self._apply(split.moved, run=False)
            messages = split.fresh
        if messages:
            self._apply(messages)

    def _apply(self, messages: list[KafkaMessage], *, store: bool | Container[str] = True, run: bool = True) -> None:
        """`store` False: the windows hold these messages already (restored); their stations run
        (a set of stations: only theirs are written). `run` False: messages read again after a
        restore that no callback is to run on: written, stamped with their own times, done at
        once, and nothing runs, waits or is uploaded for them."""
        arrival = time.time()
        if run:
            self.stats.last_message_at = time.monotonic()
        elif (newest := newest_timestamp_ms(messages)) is not None:
            arrival = min(arrival, newest / 1000)  # when the run before the restart had them
        self.stats.counters["messages"] += len(messages)
        by_topic: dict[str, list[KafkaMessage]] = {}
        offsets = self.intake.offsets
        for message in messages:
            offsets.begin(message)
            if not run:
                offsets.mark_done(message)
            if message.error is None:
                by_topic.setdefault(self.sources.get(message.topic, message.topic), []).append(message)
                continue
            self.stats.counters["bad_messages"] += 1
            if run:  # a replayed one was recorded before the restart
                problem = BadInput("not_json", message.error)
                self.dispatcher.bad_input.record(
                    problem, message.topic, partition=message.partition, offset=message.offset
                )
                if self.dead_letters is not None:
                    self.dead_letters.add(letter_for_message(message, [problem], self.settings.module_name))
                self.intake.release(positions_of([message]))
        for topic, batch in by_topic.items():
            self.stats.applied(topic, len(batch))
            topic_config = self.dispatcher.config.topics.get(topic)
            if not run:
                self.dispatcher.ingest_batch(
                    topic,
                    [m.value for m in batch],
                    arrival=arrival,
                    positions=[(m.partition, m.offset) for m in batch],
                    store=store,
                )
            elif topic_config is not None and topic_config.defines_batch:
                for message in batch:
                    report = self.dispatcher.ingest_batch(
                        topic,
                        [message.value],
                        arrival=arrival,
                        positions=[(message.partition, message.offset)],
                        store=store,
                    )
                    self.uploads.open_batch(topic, report, message)
                    self._dead_letter([message], report)
                    self._after_ingest([message], report)
            else:
                report = self.dispatcher.ingest_batch(
                    topic,
                    [m.value for m in batch],
                    arrival=arrival,
                    positions=[(m.partition, m.offset) for m in batch],
                    store=store,
                )
                self._dead_letter(batch, report)
                self._after_ingest(batch, report)

    def _after_ingest(self, messages: list[KafkaMessage], report: IngestReport) -> None:
        oldest = oldest_timestamp_ms(messages)
        self.tracker.hold(positions_of(messages), [s for s in report.touched if self.is_ready(s)], oldest_ms=oldest)
        for station in report.triggered:
            if self.scheduler.trigger(station) and oldest is not None:
                self.stats.due(station, oldest)

    def _dead_letter(self, messages: list[KafkaMessage], report: IngestReport) -> None:
        """Queue a copy of each message with bad input (before the tracker can release it)."""
        if not report.bad or self.dead_letters is None:
            return
        problems: dict[int, list[BadInput]] = {}
        for index, problem in report.bad:
            problems.setdefault(index, []).append(problem)
        for index, found in problems.items():
            self.dead_letters.add(letter_for_message(messages[index], found, self.settings.module_name))

    def _replaying(self) -> bool:
        return self.tails.replaying

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
                self.globals.park(station)
                continue
            await self.run_station(station)
            if self.scheduler.idle:
                self.idle.idle()

    async def run_station(self, station: str) -> None:
        """One callback run: input, callback, upload / batch report, then release what it saw."""
        self.scheduler.started(station)
        holds = self.tracker.take(station)
        batches = self.uploads.batches_of(station)
        due_since = self.stats.run_begins(station)
        error: str | None = None
        began = time.perf_counter()
        module_input = failed_input = None
        try:
            module_input = self._module_input(station)
            self.stats.observe_delays(due_since, self.tracker.oldest_timestamp_ms(holds))
            result = await self.callbacks.call(self.callbacks.callback_of(station), station, module_input)
        except Exception as exc:  # noqa: BLE001 - one station's failure never stops the others
            error = f"{type(exc).__name__}: {exc}"
            self.stats.counters["callback_errors"] += 1
            handle_error(exc, context=f"callback station={station} module={self.settings.module_name}")
            failed_input, result, module_input = module_input, None, None
        self.stats.counters["callbacks"] += 1
        failed = error is not None
        uploaded = await self.uploads.deliver(station, module_input, result, batches, failed=failed)
        handler = self.callbacks.handler_of(station)
        if handler is not None and not failed:
            await self.callbacks.handle_result(handler, station, module_input, result)
        self.stats.observe_callback(time.perf_counter() - began, module_input)
        if uploaded:
            self.tracker.seen(station, holds)
        else:
            self.tracker.give_back(station, holds)
        self.scheduler.finished(station, error)
        if error is not None:
            self._note_failure(station, error, failed_input)

    def _module_input(self, station: str) -> Any:
        if self.settings.module_name is None:
            return self.dispatcher.get_all_inputs(station)
        return self.dispatcher.get_module_input(station, self.settings.module_name)

    def _note_failure(self, station: str, error: str, module_input: Any) -> None:
        """A station whose callback raised `dead_letter_after_failures` times in a row: a WARNING,
        and its input summary to the dead-letter topic (once per streak)."""
        state = self.scheduler.states.get(station)
        threshold = self.settings.service.dead_letter_after_failures
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

    # -- housekeeping ------------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        """Expiry, batch timeouts, seconds complete by the clock, periodic and catch-up runs,
        checkpoint rounds, time-based commits."""
        last_interval = last_expiry = time.monotonic()
        was_paused = False
        while not self._stopping.is_set():
            await asyncio.sleep(min(HOUSEKEEPING_SECONDS, self.uploads.aggregator.cleanup_interval))
            try:
                now = time.monotonic()
                self._close_due_seconds(held=was_paused)
                was_paused = self.flow.paused_since is not None
                await self.uploads.housekeeping()
                if now - last_expiry >= self.settings.service.cleanup_interval:
                    last_expiry = now
                    for station in self.dispatcher.clean_expired():
                        self.forget_station(station)
                for station in self.tracker.stations_waiting_since(now - CATCH_UP_SECONDS):
                    if not self.scheduler.trigger(station):
                        self.tracker.forget(station)
                if self.settings.service.interval is not None and now - last_interval >= self.settings.service.interval:
                    last_interval = now
                    self.scheduler.trigger_all(self.dispatcher.stations())
                if self.state is not None and self.state.due():
                    self.state.start_round(self.intake.offsets)
                self.intake.offsets.commit_soon()
            except Exception as exc:  # noqa: BLE001
                handle_error(exc, context="service housekeeping")

    def _close_due_seconds(self, *, held: bool) -> None:
        """Run the stations whose newest second of car orders (a per_second topic) is now complete by
        the clock. Not while consumption is paused, nor in the first pass after it resumed (`held`):
        records still unread then may belong to those seconds (nor in runs' inputs meanwhile)."""
        self.dispatcher.close_by_clock = self.flow.paused_since is None and not held
        closed = self.dispatcher.close_due_seconds()
        if self._replaying():
            return  # seconds of data replayed: the run before the restart ran them
        for station in closed:
            self.scheduler.trigger(station)

    def add_station(
        self, station: str, callback: Callable[..., Any] | None = None, handler: Callable[..., Any] | None = None
    ) -> None:
        """Serve `station` now, with a callback and result handler of its own when given."""
        self.callbacks.add(station, callback, handler)
        self.scheduler.trigger(station)

    def forget_station(self, station: str) -> None:
        self.tracker.forget(station)
        self.stats.forget(station)
        self.scheduler.remove(station)
        self.callbacks.forget(station)

    def _stations_here(self) -> list[str]:
        """Every station this service holds data of or has state for."""
        return list(dict.fromkeys([*self.dispatcher.stations(), *self.scheduler.states]))

    def _lose(self, stations: list[str], partitions: list[TopicPartition]) -> None:
        """`partitions` moved to another instance with `stations`: drop their windows, runs and
        holds here (what they held back was never committed here: the new owner reads it again)."""
        for station in stations:
            self.forget_station(station)
            self.dispatcher.remove_station(station)
        self.intake.offsets.forget(partitions)

    # -- status ------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The engine's part of `get_service_status()` (see status.py)."""
        return engine_status(self)

    def serves(self, station: str) -> bool:
        """Whether the running service serves `station` (it holds data or was added)."""
        return self.loop_alive and (station in self.scheduler.states or self.dispatcher.has_station(station))

    def station_status(self, stop: Callable[[str], None]) -> dict[str, dict[str, Any]]:
        """Per station: served, ready, queued or in its callback, counters (see status.py)."""
        return station_status(self, stop)
