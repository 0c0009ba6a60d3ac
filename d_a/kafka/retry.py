"""Exponential backoff for connecting and sending (tenacity): retry_interval, 2x, 4x ... capped.

After the last attempt the cause is raised as KafkaConnectionError naming what failed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
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

__all__ = ["MAX_DELAY", "retry_async", "retry_sync"]

logger = logging.getLogger("d_a.kafka")

MAX_DELAY = 60.0
T = TypeVar("T")


def _policy(what: str, attempts: int, retry_interval: float, retry_on: tuple[type[BaseException], ...]) -> dict:
    def log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "%s failed (attempt %d/%d): %s; retrying in %.1f s", what, state.attempt_number, attempts, exc, delay
        )

    return {
        "stop": stop_after_attempt(attempts),
        "wait": wait_exponential(multiplier=retry_interval, exp_base=2, max=MAX_DELAY),
        "retry": retry_if_exception_type(retry_on),
        "before_sleep": log_retry,
    }


def _failed(what: str, attempts: int, error: RetryError) -> KafkaConnectionError:
    cause = error.last_attempt.exception()
    return KafkaConnectionError(f"{what} failed after {attempts} attempts: {cause}")


async def retry_async(
    attempt: Callable[[], Awaitable[T]],
    *,
    what: str,
    attempts: int,
    retry_interval: float,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
) -> T:
    """Await `attempt()` up to `attempts` times with exponential backoff."""
    try:
        return await AsyncRetrying(**_policy(what, attempts, retry_interval, retry_on))(attempt)
    except RetryError as error:
        raise _failed(what, attempts, error) from error.last_attempt.exception()


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
        return Retrying(**_policy(what, attempts, retry_interval, retry_on))(attempt)
    except RetryError as error:
        raise _failed(what, attempts, error) from error.last_attempt.exception()
