"""The service suite: one set of test bodies, run on the in-memory transport and on a broker.

Every test here takes the `transport` fixture and so runs twice: `[memory]` on an InMemoryBroker
of its own, `[kafka]` on the session's Kafka-protocol broker (the embedded Tansu, or
D_A_BOOTSTRAP's cluster; marked `integration`). The fixture makes the services and does what a
test needs of the broker (publish, read a topic, read a service's committed offsets) the same way
on both, so a body never asks which transport it runs on. Each test has topic names and group ids
of its own (`transport.topic(name)`, `transport.group(name)`): on a shared broker no test sees
another's messages, and on both transports a test sees the same names.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition as KafkaTopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from d_a import AsyncDataAnalysisService, DataAnalysisService
from d_a.cli.dead_letters import read_to_end
from d_a.config import default_document
from d_a.config.input_names import default_records_key
from d_a.kafka import (
    AsyncKafkaProducerClient,
    InMemoryBroker,
    KafkaMessage,
    KafkaProducerClient,
    KafkaTransport,
    MemoryTransport,
    TopicPartition,
)
from d_a.kafka.consumer_plan import plan_consumers
from d_a.service.base import ServiceBase

PARTITIONS = 3  # the in-memory broker's default; the broker's topics are created with as many
Items = Iterable[tuple[str | bytes | None, Any]]


class SuiteTransport:
    """What a test of the suite asks of its transport; `name` is "memory" or "kafka".

    Topic and group names a test passes are its own (`topic`/`group` are applied, and applying
    them twice changes nothing), so a test writes the topic names of the configuration.
    `deadline` is how long a wait may take before the test fails: a hang guard, not a timing check
    (a broker's group joins and rebalances take seconds on a loaded machine).
    """

    name: str
    deadline: float

    def __init__(self) -> None:
        self.tag = f"t{uuid.uuid4().hex[:8]}-"

    # names

    def topic(self, name: str) -> str:
        """This test's name of topic `name`."""
        return name if name.startswith(self.tag) else self.tag + name

    def group(self, name: str) -> str:
        return self.topic(name)

    def new_names(self) -> None:
        """Topics and groups named from now on are new ones (a test of several separate cases)."""
        self.tag = f"t{uuid.uuid4().hex[:8]}-"

    def config(self, document: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The packaged default configuration with `document`'s sections in place of its own (as
        a service fills the sections a document lacks), every topic renamed by `topic`. Input
        names stay as they were: a records key named after its topic is set explicitly."""
        doc = default_document()
        doc.update(copy.deepcopy(dict(document or {})))
        topics = {}
        for name, section in doc.get("topics", {}).items():
            section = dict(section)
            if section.get("kind") in ("per_second", "per_device") and not section.get("records_key"):
                section["records_key"] = default_records_key(name)
            topics[self.topic(name)] = section
        doc["topics"] = topics
        doc["module_output_topic_prefix"] = self.topic(doc.get("module_output_topic_prefix", "MODULE-OUTPUT-"))
        doc["module_output_topics"] = {m: self.topic(t) for m, t in doc.get("module_output_topics", {}).items()}
        doc["required_topics"] = {m: self.topics(ts) for m, ts in doc.get("required_topics", {}).items()}
        service = dict(doc.get("service") or {})
        if service.get("dead_letter_topic"):
            service["dead_letter_topic"] = self.topic(service["dead_letter_topic"])
        doc["service"] = service
        return doc

    def topics(self, names: Sequence[str] | None) -> list[str] | None:
        return None if names is None else [self.topic(name) for name in names]

    # services

    def async_service(self, module: str | None = None, **options: Any) -> AsyncDataAnalysisService:
        """AsyncDataAnalysisService(module, **options) on this transport; `config` (a document of
        sections), `group_id`, `topics` and `required_topics` as `topic`/`group` name them,
        `offset_reset` (default earliest) where a new group starts reading, and the consumer's
        `max_poll_records`."""
        return self._made(AsyncDataAnalysisService(module, **self._options(**options)))

    def sync_service(self, module: str | None = None, **options: Any) -> DataAnalysisService:
        """The thread-based DataAnalysisService, as `async_service` makes the async one."""
        return self._made(DataAnalysisService(module, **self._options(**options)))

    def _options(
        self,
        *,
        config: Mapping[str, Any] | None = None,
        group_id: str = "service",
        topics: Sequence[str] | None = None,
        required_topics: Sequence[str] | None = None,
        offset_reset: str = "earliest",
        max_poll_records: int = 500,
        **options: Any,
    ) -> dict[str, Any]:
        return {
            **options,
            **self._connection(offset_reset, max_poll_records),
            "config": self.config(config),
            "group_id": self.group(group_id),
            "topics": self.topics(topics),
            "required_topics": self.topics(required_topics),
        }

    def _connection(self, offset_reset: str, max_poll_records: int) -> dict[str, Any]:
        raise NotImplementedError

    def _made(self, service: Any) -> Any:
        return service

    # the broker

    async def publish(
        self, topic: str, value: Any, key: str | bytes | None = None, *, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        """Produce one message (a dict or list is sent as JSON, bytes as they are) and wait for it to be stored."""
        await self.publish_many(topic, [(key, value)], headers=headers)

    async def publish_many(self, topic: str, items: Items, *, headers: Sequence[tuple[str, bytes]] = ()) -> None:
        """Produce (key, value) pairs in their order, then wait for all of them to be stored."""
        raise NotImplementedError

    def publish_sync(self, topic: str, value: Any, key: str | bytes | None = None) -> None:
        """`publish` for a test without an event loop (the thread-based service)."""
        raise NotImplementedError

    async def messages(self, topic: str) -> list[KafkaMessage]:
        """Every message on `topic` so far (raw bytes, key, headers, partition)."""
        raise NotImplementedError

    async def values(self, topic: str) -> list[Any]:
        """Every message on `topic` so far, decoded from JSON."""
        return [orjson.loads(m.raw) for m in await self.messages(topic) if m.raw is not None]

    async def end_offsets(self, topic: str) -> dict[int, int]:
        """Per partition of `topic`, the offset its next message will get."""
        ends = dict.fromkeys(range(PARTITIONS), 0)
        for message in await self.messages(topic):
            ends[message.partition] = max(ends[message.partition], message.offset + 1)
        return ends

    async def committed(self, service: ServiceBase, topic: str) -> dict[int, int | None]:
        """Per partition of `topic`, the offset `service`'s group committed (None: nothing yet)."""
        raise NotImplementedError

    def reading(self, service: ServiceBase) -> bool:
        """Whether `service`'s consumer has a position in every partition of its topics: a group
        that starts from the end has found the end, so whatever is published next reaches it."""
        lag = service.get_service_status()["lag"]
        return all(
            len(lag.get(topic, {})) == PARTITIONS and all(p["end_offset"] is not None for p in lag[topic].values())
            for topic in service.options.engine.consumed_topics
        )

    async def close(self) -> None:
        pass


class OnMemory(SuiteTransport):
    name = "memory"
    deadline = 15.0

    def __init__(self) -> None:
        super().__init__()
        self.broker = InMemoryBroker(PARTITIONS)

    def _connection(self, offset_reset: str, max_poll_records: int) -> dict[str, Any]:
        return {
            "transport": MemoryTransport(self.broker, auto_offset_reset=offset_reset, max_poll_records=max_poll_records)
        }

    async def publish_many(self, topic: str, items: Items, *, headers: Sequence[tuple[str, bytes]] = ()) -> None:
        for key, value in items:
            self._produce(topic, value, key, headers)

    def publish_sync(self, topic: str, value: Any, key: str | bytes | None = None) -> None:
        self._produce(topic, value, key, ())

    def _produce(self, topic: str, value: Any, key: str | bytes | None, headers: Sequence[tuple[str, bytes]]) -> None:
        raw = value if isinstance(value, bytes) else orjson.dumps(value)
        self.broker.produce(self.topic(topic), raw, key=key.encode() if isinstance(key, str) else key, headers=headers)

    async def messages(self, topic: str) -> list[KafkaMessage]:
        return self.broker.messages(self.topic(topic))

    async def committed(self, service: ServiceBase, topic: str) -> dict[int, int | None]:
        topic = self.topic(topic)
        group = service.options.group_id
        return {p: self.broker.committed(group, TopicPartition(topic, p)) for p in range(PARTITIONS)}


class OnKafka(SuiteTransport):
    name = "kafka"
    deadline = 60.0

    def __init__(self, kafka: Mapping[str, Any]) -> None:
        super().__init__()
        # Tansu answers a join after half the session timeout, rounded up to a second: 2 s, not 3.
        # A new group's first member never leaves it (Tansu numbers that generation 0, and aiokafka
        # sends LeaveGroup from generation 1 on): the next service waits out its session, 4 s, not 6.
        self.kafka = {**kafka, "session_timeout_ms": 4000, "heartbeat_interval_ms": 1000}
        self.bootstrap = str(self.kafka["bootstrap_servers"])
        self._created: set[str] = set()
        self._producer: AsyncKafkaProducerClient | None = None
        self._sync_producer: KafkaProducerClient | None = None
        self._offset_readers: dict[str, AIOKafkaConsumer] = {}

    def _connection(self, offset_reset: str, max_poll_records: int) -> dict[str, Any]:
        return {"kafka_config": {**self.kafka, "auto_offset_reset": offset_reset, "max_poll_records": max_poll_records}}

    def _made(self, service: Any) -> Any:
        """Create the service's topics before it subscribes (a consumer finds a topic created
        later only at its next metadata refresh), with as many partitions as in memory."""
        engine = service.options.engine
        self.create_topics([*service.topics, engine.output_topic, engine.service.dead_letter_topic])
        return service

    def create_topics(self, names: Iterable[str | None]) -> None:
        wanted = [self.topic(n) for n in names if n is not None and self.topic(n) not in self._created]
        if not wanted:
            return
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            for name in dict.fromkeys(wanted):
                with contextlib.suppress(TopicAlreadyExistsError):  # made by an earlier run (D_A_BOOTSTRAP)
                    admin.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=1)])
                self._created.add(name)
        finally:
            admin.close()

    async def publish_many(self, topic: str, items: Items, *, headers: Sequence[tuple[str, bytes]] = ()) -> None:
        self.create_topics([topic])
        if self._producer is None:
            self._producer = AsyncKafkaProducerClient(self.kafka)
            await self._producer.start()
        await self._producer.send_many(self.topic(topic), list(items), headers=headers)

    def publish_sync(self, topic: str, value: Any, key: str | bytes | None = None) -> None:
        self.create_topics([topic])
        if self._sync_producer is None:
            self._sync_producer = KafkaProducerClient(self.kafka)
        self._sync_producer.send(self.topic(topic), value, key)

    async def messages(self, topic: str) -> list[KafkaMessage]:
        self.create_topics([topic])
        async with KafkaTransport(self.kafka).async_global_reader([self.topic(topic)]) as reader:
            found, complete = await read_to_end(reader, self.deadline)
        assert complete, f"{topic} not read to its end in {self.deadline:g} s"
        return found

    async def committed(self, service: ServiceBase, topic: str) -> dict[int, int | None]:
        """Read from the group the service's consumer of `topic` is in (in multi-consumer mode
        each topic has a group of its own)."""
        topic = self.topic(topic)
        plan = plan_consumers(
            "committed",
            service.options.engine.consumed_topics,
            service.config.kafka,
            group_id=service.options.group_id,
            multi_consumer_mode=None,
            max_retries=None,
            retry_interval=None,
        )
        group = next(settings["group_id"] for topics, settings in plan.members if topic in topics)
        reader = self._offset_readers.get(group)
        if reader is None:
            reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=group, enable_auto_commit=False)
            await reader.start()
            self._offset_readers[group] = reader
        return {p: await reader.committed(KafkaTopicPartition(topic, p)) for p in range(PARTITIONS)}

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
        if self._sync_producer is not None:
            await asyncio.to_thread(self._sync_producer.close)
        for reader in self._offset_readers.values():
            await reader.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fails_on(transport, reason): a known defect of d_a on that transport; its variant is "
        "expected to fail (xfail, not strict: timing decides some), the other must pass",
    )


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.integration)])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[SuiteTransport]:
    for mark in request.node.iter_markers("fails_on"):
        if mark.args[0] == request.param:
            request.node.add_marker(pytest.mark.xfail(reason=mark.kwargs["reason"], strict=False))
    made = OnMemory() if request.param == "memory" else OnKafka(request.getfixturevalue("kafka_config"))
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def on_kafka(kafka_config: dict) -> AsyncIterator[OnKafka]:
    """The suite's broker side for tests that only a Kafka-protocol broker can run (consumer
    groups of several members)."""
    made = OnKafka(kafka_config)
    try:
        yield made
    finally:
        await made.close()
