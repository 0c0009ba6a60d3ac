"""KafkaMessage: one consumed message, its value decoded once (UTF-8 JSON via orjson)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from aiokafka.structs import TopicPartition

__all__ = [
    "Headers",
    "KafkaMessage",
    "OutgoingRecord",
    "TopicPartition",
    "decode_value",
    "encode_value",
    "exact_bytes",
    "key_bytes",
    "messages_from",
    "raw_messages_from",
]

Headers = Sequence[tuple[str, bytes]]
"""A message's headers: (name, value) pairs, as the Kafka clients give and take them."""


class OutgoingRecord(NamedTuple):
    """A message to send: key, value (dict/list as JSON, bytes as they are), headers, and its
    timestamp (None: the producer's clock)."""

    key: bytes | str | None
    value: Any
    headers: Headers = ()
    timestamp_ms: int | None = None


_ENCODE_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


@dataclass(slots=True)
class KafkaMessage:
    """A consumed message. `value` is the decoded JSON; when it could not be decoded, `value` is
    None and `error` says why (the message is still delivered so its offset can be committed).
    A client made with `decode_json=False` leaves `value` as the bytes received. `raw` is the value
    as received and `headers` the message's headers, so a bad message can be passed on unchanged
    (the dead-letter topic)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: Any
    timestamp_ms: int | None = None
    error: str | None = None
    raw: bytes | None = None
    headers: Headers = ()

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


def decode_value(raw: bytes | None) -> tuple[Any, str | None]:
    """(decoded value, None) or (None, reason) for bytes that are not UTF-8 JSON."""
    if raw is None:
        return None, "empty value (tombstone)"
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError as exc:
        return None, f"not UTF-8 JSON: {exc}"


def encode_value(value: Any) -> bytes:
    """UTF-8 JSON bytes (non-ASCII kept as is; numpy arrays and non-string keys allowed), sized
    to the text: see `exact_bytes`."""
    return exact_bytes(orjson.dumps(value, option=_ENCODE_OPTIONS))


def exact_bytes(value: bytes | bytearray | memoryview) -> bytes:
    """A copy of `value` that holds its bytes only. orjson hands back its 4 KiB working buffer
    behind every result, so a small value kept in memory (a queued or stored message) would cost
    4 KiB instead of its length."""
    return memoryview(value).tobytes()


def messages_from(records: Iterable[Any]) -> list[KafkaMessage]:
    """KafkaMessages from aiokafka or kafka-python ConsumerRecords, values decoded (the hot path:
    one orjson call per record; undecodable values take the slow path through `decode_value`)."""
    loads, message = orjson.loads, KafkaMessage
    out: list[KafkaMessage] = []
    append = out.append
    for record in records:
        raw = record.value
        try:
            value, error = loads(raw), None
        except (orjson.JSONDecodeError, TypeError):
            value, error = decode_value(raw)
        append(
            message(
                record.topic,
                record.partition,
                record.offset,
                record.key,
                value,
                record.timestamp,
                error,
                raw,
                record.headers,
            )
        )
    return out


def raw_messages_from(records: Iterable[Any]) -> list[KafkaMessage]:
    """KafkaMessages whose `value` is the record's bytes as received (the caller decodes them)."""
    return [
        KafkaMessage(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp, None, r.value, r.headers)
        for r in records
    ]


def key_bytes(key: bytes | str | None) -> bytes | None:
    """A message key as bytes (str keys are UTF-8 encoded)."""
    return key.encode("utf-8") if isinstance(key, str) else key
