"""CallbackPool: runs the sync callbacks of the engine on a few threads.

`loop.run_in_executor` wakes the event loop once per finished call; at thousands of cheap callbacks
a second those wake-ups (and the GIL hand-offs around them) cost far more than the callbacks. The
pool hands finished calls back in batches instead: one wake-up covers every call that completed
since the loop last looked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["CallbackPool"]

logger = logging.getLogger("d_a.service")

_Job = tuple["asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]
_Done = tuple["asyncio.Future[Any]", Any, "BaseException | None"]


class CallbackPool:
    """At most `size` threads running sync callables for one event loop.

    Threads are started when the calls waiting outnumber the idle threads and are kept until
    `shutdown()`. A call whose future is cancelled before a thread picks it up is not run.
    """

    def __init__(self, size: int, *, thread_name_prefix: str = "d_a-callback") -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, not {size}")
        self.size = size
        self.thread_name_prefix = thread_name_prefix
        self._loop: asyncio.AbstractEventLoop | None = None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._done: deque[_Done] = deque()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # threads waiting for a job
        self._queued = 0  # jobs no thread has taken yet
        self._shutdown = False

    @property
    def threads(self) -> list[threading.Thread]:
        """The threads started so far."""
        return list(self._threads)

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """`fn(*args)` on a pool thread; call on the event loop, await the future for its outcome."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError("the callback pool belongs to another event loop")
        future: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("the callback pool is shut down")
            self._jobs.put((future, fn, args))
            self._queued += 1
            if self._queued > self._idle and len(self._threads) < self.size:
                self._start_thread()
        return future

    def shutdown(self, wait: bool = False) -> None:
        """Accept no more calls and cancel the ones not started; threads end after their current
        call (`wait`: return once they have)."""
        pending: list[asyncio.Future[Any]] = []
        with self._lock:
            if not self._shutdown:
                self._shutdown = True
                while True:
                    try:
                        job = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if job is not None:
                        pending.append(job[0])
                self._queued = 0
                for _ in self._threads:
                    self._jobs.put(None)
        if pending:
            self._cancel_soon(pending)
        if wait:
            current = threading.current_thread()
            for thread in self._threads:
                if thread is not current:
                    thread.join()

    def _start_thread(self) -> None:
        name = f"{self.thread_name_prefix}-{len(self._threads)}"
        thread = threading.Thread(target=self._work, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _work(self) -> None:
        loop = self._loop
        assert loop is not None
        with self._lock:
            self._idle += 1
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args = job
            with self._lock:
                self._idle -= 1
                self._queued -= 1
            result, exception = None, None
            if not future.cancelled():
                try:
                    result = fn(*args)
                except BaseException as exc:  # noqa: BLE001 - the caller gets it, the thread lives on
                    exception = exc
            with self._lock:
                wake = not self._done
                self._done.append((future, result, exception))
                self._idle += 1
            if wake:
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                    loop.call_soon_threadsafe(self._drain)
            del job, future, fn, args, result, exception

    def _drain(self) -> None:
        with self._lock:
            done, self._done = self._done, deque()
        for future, result, exception in done:
            if future.done():
                continue
            if exception is None:
                future.set_result(result)
            elif isinstance(exception, StopIteration):  # a future refuses StopIteration
                error = RuntimeError("callback raised StopIteration")
                error.__cause__ = exception
                future.set_exception(error)
            else:
                future.set_exception(exception)

    def _cancel_soon(self, futures: list[asyncio.Future[Any]]) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._cancel(futures)
            return
        try:
            loop.call_soon_threadsafe(self._cancel, futures)
        except RuntimeError:  # the loop is closed
            logger.debug("callback pool shut down after its event loop closed")

    @staticmethod
    def _cancel(futures: list[asyncio.Future[Any]]) -> None:
        for future in futures:
            future.cancel()
