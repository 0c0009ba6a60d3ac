"""Kafka transport: clients (aiokafka, kafka-python), the in-memory transport, offset management,
and the embedded test broker."""

from .async_clients import AsyncKafkaConsumerClient, AsyncKafkaProducerClient
from .async_global_reader import AsyncKafkaGlobalReader
from .broker import BrokerUnavailable, EmbeddedBroker
from .cluster import KafkaTransport
from .memory import (
    AsyncMemoryConsumer,
    AsyncMemoryGlobalReader,
    AsyncMemoryProducer,
    InMemoryBroker,
    MemoryConsumer,
    MemoryGlobalReader,
    MemoryProducer,
    MemoryTransport,
)
from .message import KafkaMessage, TopicPartition
from .offsets import OffsetManager
from .sync_clients import KafkaConsumerClient, KafkaProducerClient
from .sync_global_reader import KafkaGlobalReader
from .transport import AsyncConsumer, AsyncGlobalReader, AsyncProducer, Consumer, GlobalReader, Producer, Transport

__all__ = [
    "AsyncConsumer",
    "AsyncGlobalReader",
    "AsyncKafkaConsumerClient",
    "AsyncKafkaGlobalReader",
    "AsyncKafkaProducerClient",
    "AsyncMemoryConsumer",
    "AsyncMemoryGlobalReader",
    "AsyncMemoryProducer",
    "AsyncProducer",
    "BrokerUnavailable",
    "Consumer",
    "EmbeddedBroker",
    "GlobalReader",
    "InMemoryBroker",
    "KafkaConsumerClient",
    "KafkaGlobalReader",
    "KafkaMessage",
    "KafkaProducerClient",
    "KafkaTransport",
    "MemoryConsumer",
    "MemoryGlobalReader",
    "MemoryProducer",
    "MemoryTransport",
    "OffsetManager",
    "Producer",
    "TopicPartition",
    "Transport",
]
