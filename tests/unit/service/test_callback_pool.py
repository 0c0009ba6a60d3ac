"""CallbackPool: sync callables on a bounded set of threads, results handed back to the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from helpers import until, wait_for

from d_a.service.callbacks import CallbackPool

GUARD = 10.0  # seconds before a test that should have finished long ago gives up (a hang, not a timing check)


class Abort(BaseException):
    """Not an Exception: must still reach the caller, and must not kill the thread."""


@pytest.fixture
def make_pool() -> Iterator[Callable[..., CallbackPool]]:
    pools: list[CallbackPool] = []

    def make(size: int, prefix: str = "test-callback") -> CallbackPool:
        pools.append(CallbackPool(size, thread_name_prefix=prefix))
        return pools[-1]

    yield make
    for pool in pools:
        pool.shutdown(wait=False)


def threads_named(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix + "-")]


async def settle(awaitable: Awaitable[Any]) -> Any:
    return await asyncio.wait_for(awaitable, GUARD)


def shut_down(pool: CallbackPool) -> None:
    """`pool.shutdown(wait=True)`, in a thread of its own so that a hang fails the test instead."""
    stopper = threading.Thread(target=pool.shutdown, args=(True,), daemon=True)
    stopper.start()
    stopper.join(GUARD)
    assert not stopper.is_alive(), "shutdown(wait=True) never returned"


class Gate:
    """Callables that block until opened, counting how many run at once."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.lock = threading.Lock()
        self.started = 0
        self.running = 0
        self.most_running = 0

    def block(self, value: Any) -> Any:
        with self.lock:
            self.started += 1
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            assert self.opened.wait(GUARD), "gate never opened"
            return value
        finally:
            with self.lock:
                self.running -= 1


def fail(i: int) -> None:
    raise ValueError(i)


def abort(i: int) -> None:
    raise Abort(i)


async def test_results_and_exceptions_reach_their_own_caller(make_pool) -> None:
    pool = make_pool(4)
    calls = []
    for i in range(60):
        function = (lambda x: x * 10, fail, abort)[i % 3]
        calls.append(pool.run(function, i))
    outcomes = await settle(asyncio.gather(*calls, return_exceptions=True))
    for i, outcome in enumerate(outcomes):
        if i % 3 == 0:
            assert outcome == i * 10
        else:
            assert type(outcome) is (ValueError if i % 3 == 1 else Abort)
            assert outcome.args == (i,)


async def test_a_base_exception_does_not_kill_the_thread(make_pool) -> None:
    pool = make_pool(1, "test-abort")
    with pytest.raises(Abort):
        await settle(pool.run(abort, 1))
    [thread] = threads_named("test-abort")
    assert await settle(pool.run(threading.current_thread)) is thread
    assert thread.is_alive()


async def test_a_stop_iteration_arrives_as_an_error(make_pool) -> None:
    pool = make_pool(1)
    with pytest.raises(RuntimeError) as caught:
        await settle(pool.run(next, iter(())))
    assert isinstance(caught.value.__cause__, StopIteration)


async def test_at_most_size_callables_run_at_once(make_pool) -> None:
    pool, gate = make_pool(3, "test-bound"), Gate()
    calls = [pool.run(gate.block, i) for i in range(12)]
    try:
        await until(lambda: gate.started == 3, GUARD, interval=0.001)
        assert len(threads_named("test-bound")) == 3
        assert gate.running == 3
    finally:
        gate.opened.set()
    assert await settle(asyncio.gather(*calls)) == list(range(12))
    assert gate.started == 12
    assert gate.most_running == 3
    assert len(threads_named("test-bound")) == 3


async def test_threads_are_started_only_when_needed(make_pool) -> None:
    pool = make_pool(8, "test-lazy")
    assert threads_named("test-lazy") == []
    for i in range(20):
        assert await settle(pool.run(abs, -i)) == i
    assert len(threads_named("test-lazy")) == 1


async def test_a_blocked_callable_does_not_hold_up_the_others(make_pool) -> None:
    pool, gate = make_pool(2), Gate()
    slow = pool.run(gate.block, "slow")
    try:
        await until(lambda: gate.started == 1, GUARD, interval=0.001)
        quick = [pool.run(lambda x: x + 1, i) for i in range(50)]
        assert await settle(asyncio.gather(*quick)) == [i + 1 for i in range(50)]
        assert not slow.done()
    finally:
        gate.opened.set()
    assert await settle(slow) == "slow"


async def test_many_quick_calls_all_complete(make_pool) -> None:
    pool = make_pool(8, "test-many")
    results = await settle(asyncio.gather(*(pool.run(pow, i, 2) for i in range(2000))))
    assert results == [i * i for i in range(2000)]
    assert 1 <= len(threads_named("test-many")) <= 8


async def test_completions_while_the_loop_is_busy_cost_one_wake_up(make_pool) -> None:
    pool = make_pool(4)
    drains = 0
    drain = pool._drain

    def counting_drain() -> None:
        nonlocal drains
        drains += 1
        drain()

    pool._drain = counting_drain
    calls = [pool.run(abs, -i) for i in range(100)]
    # the loop is kept busy (a blocking wait): every completion lands before it looks
    wait_for(lambda: len(pool._done) >= 100, GUARD, interval=0.001)
    assert await settle(asyncio.gather(*calls)) == list(range(100))
    assert drains == 1


async def test_a_call_cancelled_before_it_started_is_not_run(make_pool) -> None:
    pool, gate = make_pool(1), Gate()
    ran = []
    blocker = pool.run(gate.block, None)
    try:
        await until(lambda: gate.started == 1, GUARD, interval=0.001)
        dropped = pool.run(ran.append, "dropped")
        dropped.cancel()
    finally:
        gate.opened.set()
    await settle(blocker)
    assert await settle(pool.run(ran.append, "kept")) is None
    assert ran == ["kept"]


async def test_shutdown_cancels_queued_calls_and_ends_every_thread(make_pool) -> None:
    pool, gate = make_pool(2, "test-shutdown"), Gate()
    ran = []
    running = [pool.run(gate.block, i) for i in range(2)]
    try:
        await until(lambda: gate.started == 2, GUARD, interval=0.001)
        queued = [pool.run(ran.append, i) for i in range(5)]
        pool.shutdown(wait=False)
        await asyncio.sleep(0)
        assert all(future.cancelled() for future in queued)
        threads = threads_named("test-shutdown")
        assert len(threads) == 2
    finally:
        gate.opened.set()
    shut_down(pool)
    assert not any(thread.is_alive() for thread in threads)
    assert await settle(asyncio.gather(*running)) == [0, 1]
    assert ran == []


async def test_shutdown_from_another_thread_cancels_through_the_loop(make_pool) -> None:
    pool, gate = make_pool(1, "test-foreign"), Gate()
    blocker = pool.run(gate.block, "running")
    try:
        await until(lambda: gate.started == 1, GUARD, interval=0.001)
        queued = pool.run(abs, -1)
        stopper = threading.Thread(target=pool.shutdown)
        stopper.start()
        stopper.join()
        with pytest.raises(asyncio.CancelledError):
            await settle(queued)
    finally:
        gate.opened.set()
    assert await settle(blocker) == "running"
    shut_down(pool)
    assert threads_named("test-foreign") == []


async def test_shutdown_of_an_idle_pool_ends_its_threads(make_pool) -> None:
    pool = make_pool(4, "test-idle")
    await settle(asyncio.gather(*(pool.run(abs, -i) for i in range(100))))
    threads = threads_named("test-idle")
    assert threads
    shut_down(pool)
    assert not any(thread.is_alive() for thread in threads)


async def test_run_after_shutdown_raises(make_pool) -> None:
    pool = make_pool(2)
    assert await settle(pool.run(abs, -3)) == 3
    pool.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        pool.run(abs, -4)


async def test_a_pool_serves_one_event_loop(make_pool) -> None:
    pool = make_pool(1)
    await settle(pool.run(abs, -1))

    async def elsewhere() -> None:
        pool.run(abs, -2)

    with pytest.raises(RuntimeError, match="another event loop"):
        await asyncio.to_thread(asyncio.run, elsewhere())
