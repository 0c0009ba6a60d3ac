"""ProbeServer: `/metrics`, `/health` and `/ready` on one port, answered by callables, in a daemon
thread. A service's MetricsServer (metrics.py) and the `--workers` supervisor (cli/worker_http.py)
are both one."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Check", "ProbeServer"]

Check = Callable[[], tuple[bool, dict[str, Any]]]  # (passes, JSON body): 200 or 503


class ProbeServer:
    """GET /metrics answers `metrics()` (Prometheus text); /health and /ready answer their check's
    body as JSON, 200 when it passes, else 503."""

    def __init__(
        self, port: int, host: str, *, metrics: Callable[[], bytes], health: Check, ready: Check, name: str
    ) -> None:
        self.httpd = ThreadingHTTPServer((host, port), _handler(metrics, health, ready))
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name=name, daemon=True)

    def start(self) -> ProbeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(metrics: Callable[[], bytes], health: Check, ready: Check) -> type[BaseHTTPRequestHandler]:
    from prometheus_client import CONTENT_TYPE_LATEST  # the metrics extra

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server interface
            if self.path.startswith("/metrics"):
                self._reply(200, CONTENT_TYPE_LATEST, metrics())
            elif self.path.startswith("/health"):
                self._json(*health())
            elif self.path.startswith("/ready"):
                self._json(*ready())
            else:
                self._reply(404, "text/plain", b"not found: use /metrics, /health or /ready\n")

        def _json(self, passes: bool, body: dict[str, Any]) -> None:
            self._reply(200 if passes else 503, "application/json", json.dumps(body).encode())

        def _reply(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence per-request logs
            return None

    return Handler
