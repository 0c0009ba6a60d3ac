"""Kafka transport: clients (aiokafka, kafka-python), the in-memory transport, offset management,
and the embedded test broker."""

from .aio import AsyncKafkaConsumerClient, AsyncKafkaProducerClient
from .broker import BrokerUnavailable, EmbeddedBroker
from .cluster import KafkaTransport
from .memory import (
    AsyncMemoryConsumer,
    AsyncMemoryProducer,
    InMemoryBroker,
    MemoryConsumer,
    MemoryProducer,
    MemoryTransport,
)
from .message import KafkaMessage, TopicPartition
from .offsets import OffsetManager
from .sync import KafkaConsumerClient, KafkaProducerClient
from .transport import AsyncConsumer, AsyncProducer, Consumer, Producer, Transport

__all__ = [
    "AsyncConsumer",
    "AsyncKafkaConsumerClient",
    "AsyncKafkaProducerClient",
    "AsyncMemoryConsumer",
    "AsyncMemoryProducer",
    "AsyncProducer",
    "BrokerUnavailable",
    "Consumer",
    "EmbeddedBroker",
    "InMemoryBroker",
    "KafkaConsumerClient",
    "KafkaMessage",
    "KafkaProducerClient",
    "KafkaTransport",
    "MemoryConsumer",
    "MemoryProducer",
    "MemoryTransport",
    "OffsetManager",
    "Producer",
    "TopicPartition",
    "Transport",
]
