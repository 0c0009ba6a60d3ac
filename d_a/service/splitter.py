"""StationSplitter: places the messages of topics the producers do not key by station into their
by-station topics (`d_a.kafka.by_station`), in the partition of each station's slot, so the
instances of a scaled-out group read every topic by slot (Kafka Streams' repartitioning).

Every instance runs one, a member of the group `<group>.split` over those topics, so each
source partition is split by one instance. A message whose records all belong to one slot goes on
unchanged; one holding stations of several slots (a REALTIME-DATA push, PARAM) goes on as one
message per slot, in the same shape, holding that slot's records. A batch-defining message's
pieces carry its batch id and station count in headers, so every instance files its part under
the same batch. Source offsets are committed once the broker has the pieces: at-least-once (a
crash or rebalance in between writes some pieces twice). A message that is not JSON, or records
whose station cannot be told, go on with the empty key's slot, whose owner reports them as bad
input as usual.

Device records (a host code, no station id) are placed through the station parameters: with
SCHEDULE-STATION-PARAM among the topics, the splitter reads that topic whole, from its
beginning (to its end before it splits anything).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import Config
from ..errors import handle_error
from ..kafka.async_clients import AsyncKafkaConsumerClient, AsyncKafkaProducerClient
from ..kafka.async_global_reader import AsyncKafkaGlobalReader
from ..kafka.message import Headers, KafkaMessage, OutgoingRecord, encode_value
from ..kafka.slots import slot_of
from ..topics import BadInput
from ..topics.base import TopicParser
from ..topics.registry import build_parsers
from ..topics.routing import StationRouter
from .batching import BATCH_ID_HEADER, BATCH_STATIONS_HEADER, batch_id_for

__all__ = ["Piece", "StationSplitter", "split_message"]

logger = logging.getLogger("d_a.service")

FETCH_TIMEOUT_MS = 200
ERROR_PAUSE_SECONDS = 1.0
UNPLACED_KEY = ""  # records without a station go to this key's slot


@dataclass(frozen=True, slots=True)
class Piece:
    """What goes to the by-station topic for one slot of a message: its key (a station of the
    slot), value bytes, headers, and the message's own timestamp."""

    slot: int
    key: str
    value: bytes
    headers: Headers = ()
    timestamp_ms: int | None = None

    def record(self) -> OutgoingRecord:
        return OutgoingRecord(self.key, self.value, self.headers, self.timestamp_ms)


def split_message(parser: TopicParser, message: KafkaMessage, slots: int, *, batch: bool = False) -> list[Piece]:
    """`message` cut into one piece per slot its records' stations are in, each with the
    message's timestamp (`batch`: and its batch id and station count in headers)."""
    headers = tuple(message.headers)
    raw = message.raw if message.raw is not None else b""
    unplaced = slot_of(UNPLACED_KEY, slots)
    stamp = message.timestamp_ms
    if message.error is not None:
        return [Piece(unplaced, UNPLACED_KEY, raw, headers, stamp)]
    value = message.value
    try:
        items = parser.split(value)
    except BadInput:
        return [Piece(unplaced, UNPLACED_KEY, raw, headers, stamp)]
    by_slot: dict[int, tuple[str, list[Any]]] = {}
    stations: set[str] = set()
    for item in items:
        try:
            station = parser.station_of(item) if isinstance(item, dict) else None
        except BadInput:
            station = None
        if station is None:
            slot, key = unplaced, UNPLACED_KEY
        else:
            stations.add(station)
            slot, key = slot_of(station, slots), station
        by_slot.setdefault(slot, (key, []))[1].append(item)
    if batch:
        headers += _batch_headers(parser, message, len(stations))
    if len(by_slot) <= 1:
        slot, (key, _) = next(iter(by_slot.items()), (unplaced, (UNPLACED_KEY, [])))
        return [Piece(slot, key, raw, headers, stamp)]
    return [
        Piece(slot, key, encode_value(_rebuilt(parser, value, part)), headers, stamp)
        for slot, (key, part) in sorted(by_slot.items())
    ]


def _rebuilt(parser: TopicParser, value: Any, items: list[Any]) -> Any:
    """A message of `value`'s shape holding `items` only."""
    envelope = parser.config.envelope
    if envelope is not None:
        return {**value, envelope: items}
    return items


def _batch_headers(parser: TopicParser, message: KafkaMessage, stations: int) -> tuple[tuple[str, bytes], ...]:
    """The batch id the whole message defines (its newest record time) and its station count."""
    arrival = (message.timestamp_ms or time.time() * 1000) / 1000
    times = [record.ts for record in parser.station_records(message.value, arrival).records]
    if not times:
        return ()
    batch_id = batch_id_for(parser.topic, max(times))
    return ((BATCH_ID_HEADER, batch_id.encode()), (BATCH_STATIONS_HEADER, str(stations).encode()))


class StationSplitter:
    """Splits `sources` (`{source topic: its by-station topic}`) into `slots` partitions."""

    def __init__(
        self,
        config: Config,
        sources: Mapping[str, str],
        slots: int,
        group_id: str,
        bootstrap_timeout: float,
    ) -> None:
        self.config = config
        self.sources = dict(sources)
        self.slots = slots
        self.router = StationRouter()
        self.parsers = build_parsers(config.topics, self.router)
        self.consumer = AsyncKafkaConsumerClient(
            list(self.sources), config.kafka, group_id=f"{group_id}.split", multi_consumer_mode=False, decode_json=True
        )
        self.producer = AsyncKafkaProducerClient(config.kafka)
        params = [t for t in config.topics if self.parsers[t].name == "station_param"]
        self.params = AsyncKafkaGlobalReader(params, config.kafka) if params else None
        self.bootstrap_timeout = bootstrap_timeout
        self.messages = 0
        self.pieces = 0
        self._task: asyncio.Task[None] | None = None
        self._params_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        """Connect, read the station parameters to their end, then split in a task of its own."""
        await self.producer.start()
        try:
            if self.params is not None:
                await self.params.start()
                await self._learn_params_to_end()
                self._params_task = asyncio.create_task(self._learn_params(), name="d_a-split-params")
            await self.consumer.start()
        except BaseException:
            await self._close()
            raise
        self._task = asyncio.create_task(self._run(), name="d_a-split")
        logger.info(
            "splitting %s into %d slots (by-station topics %s)",
            ", ".join(self.sources),
            self.slots,
            ", ".join(self.sources.values()),
        )

    async def stop(self) -> None:
        """Finish the batch being split (its offsets committed), then disconnect."""
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self._close()

    async def _close(self) -> None:
        if self._params_task is not None:
            self._params_task.cancel()
            await asyncio.gather(self._params_task, return_exceptions=True)
        await self.consumer.stop()
        if self.params is not None:
            await self.params.stop()
        await self.producer.stop()

    async def _run(self) -> None:
        """Fetch, split, send, commit; a batch whose pieces could not be sent is sent again."""
        unsent: list[KafkaMessage] = []
        while not self._stopping.is_set():
            try:
                if not unsent:
                    unsent = await self.consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS)
                if unsent:
                    await self._send(unsent)
                    ends = {m.tp: m.offset + 1 for m in unsent}
                    unsent = []
                    await self.consumer.commit_offsets(ends)
            except Exception as exc:  # noqa: BLE001 - never end the loop; the broker may come back
                handle_error(exc, context="station splitter")
                await asyncio.sleep(ERROR_PAUSE_SECONDS)

    async def _send(self, messages: list[KafkaMessage]) -> None:
        """Every message's pieces, to the broker (acknowledged)."""
        by_topic: dict[str, list[Piece]] = {}
        for message in messages:
            parser = self.parsers[message.topic]
            batch = self.config.topics[message.topic].defines_batch
            by_topic.setdefault(self.sources[message.topic], []).extend(
                split_message(parser, message, self.slots, batch=batch)
            )
        for topic, pieces in by_topic.items():
            await self.producer.send_records(topic, [piece.record() for piece in pieces])
            self.pieces += len(pieces)
        self.messages += len(messages)

    async def _learn_params_to_end(self) -> None:
        assert self.params is not None
        ends = await self.params.end_offsets()
        deadline = time.monotonic() + self.bootstrap_timeout
        while any(self.params.positions().get(tp, 0) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                logger.warning(
                    "station parameters not read to their end in %g s: device records of stations not read yet "
                    "go to the slot of no station",
                    self.bootstrap_timeout,
                )
                return
            self._learn(await self.params.getmany(timeout_ms=FETCH_TIMEOUT_MS))

    async def _learn_params(self) -> None:
        assert self.params is not None
        while True:
            try:
                self._learn(await self.params.getmany(timeout_ms=1000))
            except Exception as exc:  # noqa: BLE001 - a task of its own: report and go on
                handle_error(exc, context="station splitter parameters")
                await asyncio.sleep(ERROR_PAUSE_SECONDS)

    def _learn(self, messages: list[KafkaMessage]) -> None:
        for message in messages:
            if message.error is None:
                parser = self.parsers[message.topic]
                parser.accepted(parser.station_records(message.value, time.time()).records)

    def status(self) -> dict[str, Any]:
        return {"topics": dict(self.sources), "messages": self.messages, "pieces": self.pieces}
