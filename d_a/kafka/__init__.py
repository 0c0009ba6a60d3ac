"""Kafka transport: clients (aiokafka, kafka-python), the in-memory transport, offset management,
and the embedded test broker."""

from .aio import AsyncKafkaConsumerClient, AsyncKafkaGlobalReader, AsyncKafkaProducerClient
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
from .sync import KafkaConsumerClient, KafkaGlobalReader, KafkaProducerClient
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
