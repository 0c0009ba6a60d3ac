"""Which transport a service or producer uses when the caller names one, or none.

`"kafka"` (the default) talks to the configured cluster; `"memory"` to the process's shared
in-memory broker (`InMemoryBroker.shared()`), so code written for Kafka runs without one (local
runs, examples, tests). `D_A_TRANSPORT` chooses when the caller does not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..config import KafkaSettings
from ..errors import ConfigError
from .cluster import KafkaTransport
from .memory import InMemoryBroker, MemoryTransport
from .transport import Transport

__all__ = ["ENV_TRANSPORT", "TRANSPORT_NAMES", "choose_transport"]

ENV_TRANSPORT = "D_A_TRANSPORT"
TRANSPORT_NAMES = ("kafka", "memory")


def choose_transport(transport: Transport | str | None, kafka: KafkaSettings | Mapping[str, Any] | None) -> Transport:
    """`transport` as a Transport (a name, or None for `D_A_TRANSPORT`, default "kafka")."""
    where = ""
    if transport is None:
        transport, where = os.environ.get(ENV_TRANSPORT) or "kafka", f" ({ENV_TRANSPORT})"
    if transport == "kafka":
        return KafkaTransport(kafka)
    if transport == "memory":
        return MemoryTransport(InMemoryBroker.shared())
    if isinstance(transport, str):
        names = " or ".join(repr(n) for n in TRANSPORT_NAMES)
        raise ConfigError(f"transport{where}: unknown transport {transport!r} (use {names}, or a Transport object)")
    return transport
