"""`d-a demo`: the station simulator feeding an AsyncDataAnalysisService that forecasts load.

In memory by default (nothing to install or start), on the embedded Tansu broker with
`--broker embedded`, or on a real cluster with `--bootstrap HOST:PORT`. A live view shows
throughput, stations, callbacks, batches, latency and errors; the run ends with a summary and
one module input as the model received it. Exit 0 when callbacks ran, batches were uploaded and
no unexpected error occurred.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.pretty import Pretty
from rich.table import Table

from ..kafka import AsyncKafkaProducerClient, EmbeddedBroker, InMemoryBroker, KafkaTransport, MemoryTransport
from ..logs import setup_logging
from ..service import AsyncDataAnalysisService
from ..simulator import StationSimulator
from .simulate import publish_messages

MODULE = "load_prediction"
# The embedded broker (Tansu) holds every fetch for fetch_max_wait_ms even when data is waiting,
# so that wait is the floor of the latency: 10 ms instead of the default 100.
DEMO_KAFKA = {
    "auto_offset_reset": "earliest",
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    "fetch_max_wait_ms": 10,
}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="simulated stations -> service -> next-hour load forecasts")
    parser.add_argument("--stations", type=int, default=50, help="simulated stations (default 50)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds to run (default 20)")
    parser.add_argument("--speed", type=float, default=180.0, help="simulated seconds per second (default 180)")
    parser.add_argument("--seed", type=int, default=7, help="simulator seed")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--broker", choices=("memory", "embedded"), default="memory", help="default: memory")
    where.add_argument("--bootstrap", metavar="HOST:PORT", help="a real Kafka cluster")
    parser.set_defaults(handler=run)


def forecast_next_hour(station_id: str, module_input: dict[str, Any]) -> dict[str, Any] | None:
    """A small real model: next hour's station load = mean of the same hour on earlier days
    (seasonal naive), else the last hour's load."""
    history = [v for v in module_input.get("outputPowerPerStationAvg_window") or [] if v is not None]
    if not history:
        return None
    same_hour = history[-24::-24] if len(history) >= 24 else []
    forecast = statistics.fmean(same_hour) if same_hour else history[-1]
    return {
        "forecast_next_hour_kw": round(forecast, 2),
        "history_hours": len(history),
        "charging_now": module_input.get("active_sessions"),
        "holiday": module_input.get("holiday"),
    }


def run(args: argparse.Namespace) -> int:
    setup_logging("WARNING", file=False)  # the demo's own output shows what happens; problems still show
    return asyncio.run(_demo(args))


async def _demo(args: argparse.Namespace) -> int:
    console = Console()
    with contextlib.ExitStack() as stack:
        transport, publish, close = await _connect(args, stack)
        service = AsyncDataAnalysisService(
            MODULE, transport=transport, group_id=f"d_a-demo-{uuid.uuid4().hex[:8]}", min_interval=1.0
        )
        uploads: list[int] = []
        first_callback: list[float] = []

        def model(station_id: str, module_input: dict[str, Any]) -> dict[str, Any] | None:
            if not first_callback:
                first_callback.append(time.monotonic())
            return forecast_next_hour(station_id, module_input)

        began = time.monotonic()
        await service.start(model, batch_upload_handler=lambda batch_id, results: uploads.append(len(results)))
        simulator = StationSimulator(stations=args.stations, seed=args.seed, history_hours=48)
        console.print(
            f"d_a demo: {args.stations} stations, {args.duration:g} s at {args.speed:g}x, "
            f"transport {transport.name}, module {MODULE}; started in {time.monotonic() - began:.2f} s "
            "(consumer groups joined)",
            highlight=False,
        )
        started = time.monotonic()
        try:
            await publish(simulator.initial_messages())
            await _feed_and_watch(console, service, simulator, publish, args, started, uploads)
            await asyncio.sleep(1.0)  # let the last triggers run
        finally:
            await service.stop()
            await close()
        first = first_callback[0] - began if first_callback else None
        return _summary(console, service, uploads, time.monotonic() - started, first)


async def _connect(args: argparse.Namespace, stack: contextlib.ExitStack):
    """The transport, a coroutine publishing simulator messages to it, and one closing it."""
    if args.bootstrap is None and args.broker == "memory":
        broker = InMemoryBroker()

        async def publish_memory(messages) -> None:
            for m in messages:
                broker.produce(m.topic, m.value, key=m.key)

        async def nothing() -> None:
            return None

        return MemoryTransport(broker), publish_memory, nothing
    bootstrap = args.bootstrap or stack.enter_context(EmbeddedBroker()).bootstrap
    config = {"bootstrap_servers": bootstrap, **DEMO_KAFKA}
    producer = AsyncKafkaProducerClient(config)
    await producer.start()

    async def publish_kafka(messages) -> None:
        await publish_messages(producer, messages)

    return KafkaTransport(config), publish_kafka, producer.stop


async def _feed_and_watch(console, service, simulator, publish: Callable, args, started: float, uploads) -> None:
    tick = 0.2
    with Live(
        _view(service, uploads, 0.0), console=console, refresh_per_second=4, transient=not console.is_terminal
    ) as live:
        last_print = started
        while (elapsed := time.monotonic() - started) < args.duration:
            await publish(simulator.advance(args.speed * tick))
            await asyncio.sleep(tick)
            live.update(_view(service, uploads, elapsed))
            if not console.is_terminal and time.monotonic() - last_print >= 5:
                last_print = time.monotonic()
                status = service.get_service_status()
                console.print(
                    f"[{elapsed:4.0f} s] messages {status['counters']['messages']:,}, "
                    f"callbacks {status['counters']['callbacks']:,}, batches {len(uploads)}",
                    highlight=False,
                )


def _view(service: AsyncDataAnalysisService, uploads: list[int], elapsed: float) -> Table:
    status = service.get_service_status()
    counters = status.get("counters", {})
    table = Table(title=f"d_a demo - {elapsed:4.0f} s", show_header=True)
    table.add_column("topic")
    table.add_column("messages", justify="right")
    table.add_column("per second", justify="right")
    for topic, count in sorted(status.get("messages_per_topic", {}).items()):
        table.add_row(topic, f"{count:,}", f"{count / max(elapsed, 1e-9):,.0f}")
    latency = status.get("latency_ms", {}).get("p95")
    table.caption = (
        f"stations {status.get('station_count', 0)} | callbacks {counters.get('callbacks', 0):,} | "
        f"batches uploaded {len(uploads)} | p95 latency {latency if latency is None else round(latency)} ms | "
        f"callback errors {counters.get('callback_errors', 0)} | bad input {sum(status.get('bad_input', {}).values())}"
    )
    return table


def _summary(
    console: Console, service: AsyncDataAnalysisService, uploads: list[int], elapsed: float, first: float | None
) -> int:
    counters = service.get_service_status().get("counters", {})
    callbacks, errors = counters.get("callbacks", 0), counters.get("callback_errors", 0)
    console.print(
        f"\nsummary: {counters.get('messages', 0):,} messages in {elapsed:.1f} s, {callbacks:,} callbacks, "
        f"{len(uploads)} batches uploaded ({sum(uploads):,} station results), {errors} callback errors; "
        f"first callback {'-' if first is None else f'{first:.2f} s'} after the start began",
        highlight=False,
    )
    station = next(iter(service.dispatcher.stations()), None)
    example = service.dispatcher.get_module_input(station, MODULE) if station is not None else None
    if station is not None and example is not None:
        console.print(f"example module input ({MODULE}, station {station}), windows shortened:", highlight=False)
        console.print(Pretty(_shortened(example), max_string=60))
        console.print(f"forecast: {forecast_next_hour(station, example)}", highlight=False)
    ok = callbacks > 0 and uploads and errors == 0
    console.print("demo OK" if ok else "demo FAILED: no callbacks, no batches, or callback errors", highlight=False)
    return 0 if ok else 1


def _shortened(data: dict[str, Any] | None) -> dict[str, Any]:
    """The input with every list cut to its newest three items (the per-topic views too)."""
    if data is None:
        return {}
    return {
        k: _shortened(v) if isinstance(v, dict) else v[-3:] if isinstance(v, list) and len(v) > 3 else v
        for k, v in data.items()
    }
