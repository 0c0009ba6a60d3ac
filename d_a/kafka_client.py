"""The original d_a's import path of the Kafka clients (`d_a.kafka_client`); they live in `d_a.kafka`."""

from .kafka import AsyncKafkaConsumerClient, AsyncKafkaProducerClient, KafkaConsumerClient, KafkaProducerClient

__all__ = ["AsyncKafkaConsumerClient", "AsyncKafkaProducerClient", "KafkaConsumerClient", "KafkaProducerClient"]
