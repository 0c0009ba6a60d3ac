"""`d-a run`: the production entry point — one module's service with the user's callback.

    d-a run --config /etc/d_a/config.yaml --callback mypackage.model:predict [--module NAME]
            [--sync] [--result-handler pkg.mod:fn] [--batch-handler pkg.mod:fn]
            [--metrics-port 9100] [--metrics-host 0.0.0.0] [--workers N]

SIGTERM or SIGINT stops it gracefully: running callbacks finish, open batches are uploaded,
offsets are committed, and the process exits 0.

`--workers N` (N > 1, needs `service.scale_out`) runs no service here: this process supervises N
`d-a run` worker processes that share the stations, and serves their metrics as one (supervisor.py).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError, DataAnalysisError
from ..logs import setup_logging
from ..service import AsyncDataAnalysisService, DataAnalysisService

logger = logging.getLogger("d_a.cli")

DEFAULT_METRICS_HOST = "0.0.0.0"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="run one module's service with your callback (production)")
    parser.add_argument("--config", help="YAML or Python config (default: DATA_ANALYSIS_CONFIG_PATH, ./config.yaml)")
    parser.add_argument("--callback", required=True, metavar="MODULE:FUNCTION", help="e.g. mypackage.model:predict")
    parser.add_argument("--module", help="business module (default: the callback's MODULE_NAME attribute, if any)")
    parser.add_argument("--sync", action="store_true", help="thread-based DataAnalysisService instead of asyncio")
    parser.add_argument("--result-handler", metavar="MODULE:FUNCTION")
    parser.add_argument("--batch-handler", metavar="MODULE:FUNCTION", help="async service only")
    parser.add_argument("--metrics-port", type=int, help="serve /metrics and /health on this port")
    parser.add_argument(
        "--metrics-host", default=DEFAULT_METRICS_HOST, help="interface of --metrics-port (default: all, 0.0.0.0)"
    )
    parser.add_argument(
        "--workers",
        type=_worker_count,
        default=1,
        metavar="N",
        help="N > 1: supervise N worker processes sharing the stations (needs service.scale_out)",
    )
    parser.add_argument("--transport", choices=("kafka", "memory"), default="kafka")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR (default: LOG_LEVEL or INFO)")
    parser.set_defaults(handler=run)


def load_callable(spec: str | None, what: str) -> Callable[..., Any] | None:
    """`package.module:function` -> the function; ConfigError naming what is wrong."""
    if spec is None:
        return None
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"--{what}: expected MODULE:FUNCTION, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"--{what}: cannot import {module_name!r}: {exc}") from exc
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ConfigError(f"--{what}: {module_name!r} has no callable {attribute!r}")
    return function


def _worker_count(text: str) -> int:
    """`--workers` value: a whole number of at least 1."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return count


def run(args: argparse.Namespace) -> int:
    if args.workers > 1:
        from .supervisor import supervise

        return supervise(args)
    setup_logging(args.log_level)
    try:
        callback = load_callable(args.callback, "callback")
        handlers = {
            "result_handler": load_callable(args.result_handler, "result-handler"),
            "batch_upload_handler": load_callable(args.batch_handler, "batch-handler"),
        }
        module = args.module or getattr(sys.modules[callback.__module__], "MODULE_NAME", None)
        kind = DataAnalysisService if args.sync else AsyncDataAnalysisService
        service = kind(
            module, config=args.config, transport=args.transport, result_handler=handlers.pop("result_handler")
        )
    except ConfigError as exc:
        print(f"d-a run: {exc}", file=sys.stderr)
        return 2
    try:
        if isinstance(service, DataAnalysisService):
            _run_sync(service, callback, args.metrics_port, args.metrics_host)
        else:
            batch_handler = handlers["batch_upload_handler"]
            asyncio.run(_run_async(service, callback, batch_handler, args.metrics_port, args.metrics_host))
    except DataAnalysisError as exc:
        logger.error("service failed: %s", exc)
        return 1
    return 0


async def _run_async(
    service: AsyncDataAnalysisService, callback, batch_handler, metrics_port: int | None, metrics_host: str
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = _metrics(service, metrics_port, metrics_host)  # /health answers while the windows are restored
    try:
        await service.start(callback, batch_upload_handler=batch_handler)
        logger.info("running module %s; SIGTERM or SIGINT stops it", service.module_name)
        try:
            await stop.wait()
            logger.info("stop requested: finishing callbacks, flushing batches, committing offsets")
        finally:
            await service.stop()
    finally:
        if server is not None:
            server.stop()


def _run_sync(service: DataAnalysisService, callback, metrics_port: int | None, metrics_host: str) -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = _metrics(service, metrics_port, metrics_host)
    try:
        service.start(callback, background=True)
        logger.info("running module %s (threads); SIGTERM or SIGINT stops it", service.module_name)
        try:
            stop.wait()
            logger.info("stop requested: finishing callbacks, flushing batches, committing offsets")
        finally:
            service.stop()
    finally:
        if server is not None:
            server.stop()


def _metrics(service: Any, port: int | None, host: str = DEFAULT_METRICS_HOST) -> Any:
    """Start /metrics and /health when a port is given (needs the prometheus-client extra)."""
    if port is None:
        return None
    try:
        from ..metrics import HealthCheck, MetricsServer, ServiceMetrics
    except ImportError as exc:
        raise ConfigError("--metrics-port needs prometheus-client: pip install 'data-analysis[metrics]'") from exc
    metrics = ServiceMetrics(service.get_service_status)
    service.observe(metrics)
    server = MetricsServer(metrics, HealthCheck(service.get_service_status), port, host=host).start()
    logger.info("metrics and health on port %d (/metrics, /health, /ready)", server.port)
    return server
