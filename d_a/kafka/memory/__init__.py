"""In-memory transport: a broker and clients with the Kafka clients' interface, no network.

Used by the library's embedded default, `d-a demo` and the fast unit tests. The broker keeps
every message (no retention) per topic partition; an offset is the message's index in its
partition. Consumer groups are kept simple: per group and topic, one member is active and owns
all partitions; another member of the same group subscribing to that topic stands by and takes
the topic over (from the group's committed offsets) once the active member has stopped.

All broker operations are thread-safe. Waiting consumers sleep until data arrives (a
`threading.Condition` for the sync consumer, a future resolved through the consumer's event
loop for the async one), so a fetch returns as soon as there is data and never busy-spins.
A single client object, like a Kafka client, is meant to be used by one thread or task at a time.
"""

from .broker import InMemoryBroker
from .consumers import AsyncMemoryConsumer, MemoryConsumer
from .global_readers import AsyncMemoryGlobalReader, MemoryGlobalReader
from .producers import AsyncMemoryProducer, MemoryProducer
from .transport import MemoryTransport

__all__ = [
    "AsyncMemoryConsumer",
    "AsyncMemoryGlobalReader",
    "AsyncMemoryProducer",
    "InMemoryBroker",
    "MemoryConsumer",
    "MemoryGlobalReader",
    "MemoryProducer",
    "MemoryTransport",
]
