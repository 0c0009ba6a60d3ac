"""Exception types and the central error handler.

`handle_error` is the one place where caught exceptions are logged (with traceback and context)
and counted per type, so metrics and status reports can read the counts later.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

__all__ = [
    "ConfigError",
    "DataAnalysisError",
    "DispatcherError",
    "KafkaConnectionError",
    "error_counts",
    "handle_error",
    "reset_error_counts",
]

logger = logging.getLogger("d_a.errors")

T = TypeVar("T")


class DataAnalysisError(Exception):
    """Base class of every error raised by d_a."""


class KafkaConnectionError(DataAnalysisError):
    """The Kafka cluster could not be reached (after the configured retries)."""


class DispatcherError(DataAnalysisError):
    """A topic or module parser failed while updating windows or assembling a module input."""


class ConfigError(DataAnalysisError, ValueError):
    """The configuration is invalid; `problems` lists every problem as `key.path: message`."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            text = self.problems[0]
        else:
            text = f"{len(self.problems)} configuration problems:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text)


_counts: Counter[str] = Counter()
_counts_lock = threading.Lock()


def handle_error(
    exc: BaseException,
    *,
    context: str | None = None,
    recover: Callable[[], T] | None = None,
    log: logging.Logger | None = None,
) -> T | None:
    """Log `exc` with its traceback and `context`, count it by type, then run `recover`.

    Returns what `recover` returns (None without it). A failing `recover` is logged and counted
    as well, never raised: error handling must not become a new source of crashes.
    """
    name = type(exc).__name__
    with _counts_lock:
        _counts[name] += 1
    suffix = f" [context: {context}]" if context else ""
    (log or logger).error("%s: %s%s", name, exc, suffix, exc_info=(type(exc), exc, exc.__traceback__))
    if recover is None:
        return None
    try:
        return recover()
    except Exception as recover_exc:  # noqa: BLE001 - the handler must never raise
        with _counts_lock:
            _counts[type(recover_exc).__name__] += 1
        (log or logger).error("recovery after %s failed: %r%s", name, recover_exc, suffix, exc_info=True)
        return None


def error_counts() -> dict[str, int]:
    """A snapshot of how many errors of each type `handle_error` has seen."""
    with _counts_lock:
        return dict(_counts)


def reset_error_counts() -> None:
    """Forget all counts (tests, or a metrics exporter that reports deltas)."""
    with _counts_lock:
        _counts.clear()
