"""`d-a dead-letters`: count and list what services put on their dead-letter topic."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
from collections import Counter
from datetime import datetime, timezone

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..config import KafkaSettings, load_config
from ..errors import ConfigError
from ..kafka import KafkaMessage
from ..kafka.cluster import KafkaTransport
from ..kafka.transport import AsyncGlobalReader
from ..service.dead_letters import HEADER_PREFIX

PREVIEW_BYTES = 60
CONNECT_RETRIES = 2


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "dead-letters",
        help="count and list the messages on a dead-letter topic",
        description="Read a dead-letter topic from its beginning to its end (no consumer group, nothing "
        "committed), count its letters per source topic and kind, and list the newest ones.",
    )
    parser.add_argument("--bootstrap", metavar="HOST:PORT", help="default: the configuration's bootstrap_servers")
    parser.add_argument("--config", help="YAML or Python config (default: DATA_ANALYSIS_CONFIG_PATH, ./config.yaml)")
    parser.add_argument("--topic", help="default: the configuration's service.dead_letter_topic")
    parser.add_argument("--show", type=int, default=20, metavar="N", help="list the newest N letters (default 20)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to read for at most (default 30)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True, soft_wrap=True)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        err.print(f"invalid configuration: {exc}", markup=False, highlight=False)
        return 2
    topic = args.topic or config.service.dead_letter_topic
    if not topic:
        err.print("no dead-letter topic: give --topic, or set service.dead_letter_topic", markup=False)
        return 2
    reader = KafkaTransport(_settings(config.kafka, args.bootstrap)).async_global_reader([topic])
    letters, complete = asyncio.run(_read(reader, args.timeout))
    console = Console() if Console().is_terminal else Console(width=200)
    print_letters(console, topic, letters, args.show)
    if not complete:
        err.print(f"stopped after {args.timeout:g} s before the end of {topic}: the counts are partial", markup=False)
        return 1
    return 0


def _settings(kafka: KafkaSettings, bootstrap: str | None) -> KafkaSettings:
    """The configuration's Kafka settings, with `--bootstrap` and few connect retries (a command
    should say soon that it cannot connect)."""
    kafka = dataclasses.replace(kafka, max_retries=min(kafka.max_retries, CONNECT_RETRIES), retry_interval=1.0)
    if not bootstrap:
        return kafka
    servers = bootstrap.split(",")
    return dataclasses.replace(
        kafka,
        consumer={**kafka.consumer, "bootstrap_servers": servers},
        producer={**kafka.producer, "bootstrap_servers": servers},
    )


async def _read(reader: AsyncGlobalReader, timeout: float) -> tuple[list[KafkaMessage], bool]:
    async with reader:  # type: ignore[attr-defined]
        return await read_to_end(reader, timeout)


async def read_to_end(reader: AsyncGlobalReader, timeout: float) -> tuple[list[KafkaMessage], bool]:
    """Every message up to the end offsets found when called, and whether the end was reached."""
    ends = await reader.end_offsets()
    deadline = time.monotonic() + timeout
    messages: list[KafkaMessage] = []

    def behind() -> bool:
        positions = reader.positions()
        return any(positions.get(tp, 0) < end for tp, end in ends.items())

    while behind():
        if time.monotonic() > deadline:
            return messages, False
        messages += await reader.getmany(timeout_ms=200)
    return messages, True


def letter_headers(letter: KafkaMessage) -> dict[str, str]:
    """A letter's d_a headers, without their prefix (`topic`, `kind`, `error`, ...)."""
    return {
        name[len(HEADER_PREFIX) :]: value.decode("utf-8", "replace")
        for name, value in letter.headers
        if name.startswith(HEADER_PREFIX)
    }


def print_letters(console: Console, topic: str, letters: list[KafkaMessage], show: int) -> None:
    """The count per source topic and kind, then the newest `show` letters."""
    console.print(f"{len(letters):,} dead letters on {topic}", highlight=False)
    if not letters:
        return
    found = [(letter, letter_headers(letter)) for letter in letters]
    counts = Counter((h.get("topic", "-"), h.get("kind", "-"), h.get("dropped", "-")) for _, h in found)
    summary = Table(title="Per source topic and kind")
    for column in ("source topic", "kind", "dropped", "letters"):
        summary.add_column(column, no_wrap=True)
    for (source, kind, dropped), count in sorted(counts.items()):
        summary.add_row(escape(source), escape(kind), escape(dropped), f"{count:,}")
    console.print(summary)
    if show <= 0:
        return
    newest = sorted(found, key=lambda item: item[0].timestamp_ms or 0)[-show:]
    listing = Table(title=f"Newest {len(newest)}")
    for column in ("time (UTC)", "source", "station", "kind", "error", "value"):
        listing.add_column(column, no_wrap=column != "error")
    for letter, h in newest:
        source = f"{h['topic']}[{h.get('partition', '?')}]@{h.get('offset', '?')}" if "topic" in h else "-"
        error = h.get("error", "").splitlines()[0] if h.get("error") else "-"
        cells = (source, h.get("station", "-"), h.get("kind", "-"), error, _preview(letter.raw))
        listing.add_row(_time(letter.timestamp_ms), *(escape(cell) for cell in cells))
    console.print(listing)


def _time(timestamp_ms: int | None) -> str:
    if timestamp_ms is None:
        return "-"
    return datetime.fromtimestamp(timestamp_ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _preview(raw: bytes | None) -> str:
    if not raw:
        return "(empty)"
    text = raw[:PREVIEW_BYTES].decode("utf-8", "replace")
    return text + ("…" if len(raw) > PREVIEW_BYTES else "")
