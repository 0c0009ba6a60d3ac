"""Kafka transport: clients, offset management and the embedded test broker."""

from .broker import BrokerUnavailable, EmbeddedBroker

__all__ = ["BrokerUnavailable", "EmbeddedBroker"]
