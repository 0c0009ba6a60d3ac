"""Exponential backoff for connecting and sending (tenacity): retry_interval, 2x, 4x ... capped.

After the last attempt the cause is raised as KafkaConnectionError naming what failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from ..errors import KafkaConnectionError

__all__ = ["MAX_DELAY", "Backoff", "retry_async", "retry_sync"]

logger = logging.getLogger("d_a.kafka")

MAX_DELAY = 60.0
T = TypeVar("T")


def _log_retry(what: str, number: int, attempts: int, exc: BaseException | None, delay: float) -> None:
    logger.warning("%s failed (attempt %d/%d): %s; retrying in %.1f s", what, number, attempts, exc, delay)


def _policy(
    what: str, attempts: int, retry_interval: float, retry_on: tuple[type[BaseException], ...], done: int
) -> dict:
    """tenacity's arguments for the attempts after the first `done`, which failed already."""

    def log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        _log_retry(what, done + state.attempt_number, attempts, exc, delay)

    return {
        "stop": stop_after_attempt(attempts - done),
        "wait": wait_exponential(multiplier=retry_interval * 2**done, exp_base=2, max=MAX_DELAY),
        "retry": retry_if_exception_type(retry_on),
        "before_sleep": log_retry,
    }


def _failed(what: str, attempts: int, cause: BaseException | None) -> KafkaConnectionError:
    return KafkaConnectionError(f"{what} failed after {attempts} attempts: {cause}")


async def retry_async(
    attempt: Callable[[], Awaitable[T]],
    *,
    what: str,
    attempts: int,
    retry_interval: float,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
) -> T:
    """Await `attempt()` up to `attempts` times with exponential backoff (the first try goes without
    the retry machinery: a service sends every result through here)."""
    try:
        return await attempt()
    except retry_on as exc:
        if attempts <= 1:
            raise _failed(what, attempts, exc) from exc
        delay = min(retry_interval, MAX_DELAY)
        _log_retry(what, 1, attempts, exc, delay)
        await asyncio.sleep(delay)
    try:
        return await AsyncRetrying(**_policy(what, attempts, retry_interval, retry_on, done=1))(attempt)
    except RetryError as error:
        cause = error.last_attempt.exception()
        raise _failed(what, attempts, cause) from cause


def retry_sync(
    attempt: Callable[[], T],
    *,
    what: str,
    attempts: int,
    retry_interval: float,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
) -> T:
    """Call `attempt()` up to `attempts` times with exponential backoff (blocking)."""
    try:
        return Retrying(**_policy(what, attempts, retry_interval, retry_on, done=0))(attempt)
    except RetryError as error:
        cause = error.last_attempt.exception()
        raise _failed(what, attempts, cause) from cause


@dataclass(frozen=True)
class Backoff:
    """A client's retry policy: `attempts` tries, the first retry after `retry_interval` seconds."""

    attempts: int
    retry_interval: float

    def sync(self, attempt: Callable[[], T], what: str, retry_on: tuple[type[BaseException], ...]) -> T:
        """`retry_sync` with this policy."""
        return retry_sync(
            attempt, what=what, attempts=self.attempts, retry_interval=self.retry_interval, retry_on=retry_on
        )

    async def run(self, attempt: Callable[[], Awaitable[T]], what: str, retry_on: tuple[type[BaseException], ...]) -> T:
        """`retry_async` with this policy."""
        return await retry_async(
            attempt, what=what, attempts=self.attempts, retry_interval=self.retry_interval, retry_on=retry_on
        )
