"""The reliability suite: short variants in `make test`, long ones with `make soak` (D_A_SOAK=1)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

SOAK = os.environ.get("D_A_SOAK", "") not in ("", "0")


def scale(short: int, soak: int) -> int:
    """A size for this run: `short` in `make test`, `soak` under `make soak`."""
    return soak if SOAK else short


def report(name: str, **figures: object) -> None:
    """Print a variant's figures on one line (shown by `make soak`, which runs pytest -s)."""
    print(f"\n[reliability] {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


class LoopThread:
    """An event loop in a thread of its own, so synchronous test code (hypothesis) can drive an
    async service: `run` a coroutine there, `call` a function there (e.g. read the status)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-loop", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, function: Callable[[], T], timeout: float = 10.0) -> T:
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(function())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return done.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def loop_thread():
    runner = LoopThread()
    try:
        yield runner
    finally:
        runner.close()
