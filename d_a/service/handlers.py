"""The user's functions a service calls: checked when they are given, and called per station.

`callback(station_id, module_input)`; `result_handler` in either of two forms, `(station_id,
result)` (the constructors') or `(station_id, module_input, result)` (`start`'s);
`batch_upload_handler(batch_id, results_list)`. A function that fits none of them is a TypeError
naming the fix at once, instead of a failure at every station run later. `StationCallbacks` keeps
the service's callback and result handler and the ones `add_station` gave a station, and calls
them: coroutine functions awaited, others on the callback pool's threads.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import handle_error
from .callbacks import CallbackPool

__all__ = [
    "ResultHandler",
    "StationCallbacks",
    "check_batch_upload_handler",
    "check_callback",
    "resolve_result_handler",
]

_PLAIN_RESULTS = frozenset({dict, list, str, int, float, bool, type(None)})  # never awaitable: no ABC check

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _shape(function: Callable[..., Any]) -> tuple[list[str], int, bool] | None:
    """(positional parameter names, how many are required, whether it takes *args); None when the
    signature cannot be read (a builtin, say): such a function is taken as it is."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())
    positional = [p for p in params if p.kind in _POSITIONAL]
    required = sum(1 for p in positional if p.default is inspect.Parameter.empty)
    varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
    return [p.name for p in positional], required, varargs


def _takes(shape: tuple[list[str], int, bool], count: int) -> bool:
    names, required, varargs = shape
    return required <= count and (len(names) >= count or varargs)


def _name(function: Callable[..., Any]) -> str:
    return getattr(function, "__qualname__", None) or repr(function)


@dataclass(frozen=True)
class ResultHandler:
    """A result handler and how many arguments it takes (2: station_id, result; 3: with the input)."""

    function: Callable[..., Any]
    arity: int

    def arguments(self, station_id: str, module_input: Any, result: Any) -> tuple[Any, ...]:
        if self.arity == 2:
            return station_id, result
        return station_id, module_input, result


def resolve_result_handler(function: Callable[..., Any] | None) -> ResultHandler | None:
    """Which of the original d_a's forms `function` has; TypeError naming the fix when it has neither."""
    if function is None:
        return None
    if not callable(function):
        raise TypeError(f"result_handler must be callable, got {type(function).__name__}")
    shape = _shape(function)
    if shape is None:
        return ResultHandler(function, 3)
    names, required, varargs = shape
    if names and names[0].startswith("batch"):
        raise TypeError(
            f"result_handler {_name(function)}{tuple(names)} looks like a batch handler: a result_handler is "
            "called per station as (station_id, result) or (station_id, module_input, result); pass a "
            "(batch_id, results_list) handler as batch_upload_handler="
        )
    if required in (2, 3):
        return ResultHandler(function, required)
    if required < 2 and _takes(shape, 3):
        return ResultHandler(function, 3)
    if required < 2 and _takes(shape, 2):
        return ResultHandler(function, 2)
    raise TypeError(
        f"result_handler {_name(function)}{tuple(names)} must take (station_id, result) "
        "or (station_id, module_input, result)"
    )


def check_callback(function: Callable[..., Any] | None, what: str = "callback") -> None:
    """TypeError unless `function` can be called as (station_id, module_input)."""
    _check(function, what, 2, "(station_id, module_input)")


def check_batch_upload_handler(function: Callable[..., Any] | None) -> None:
    """TypeError unless `function` can be called as (batch_id, results_list)."""
    _check(function, "batch_upload_handler", 2, "(batch_id, results_list)")


def _check(function: Callable[..., Any] | None, what: str, count: int, form: str) -> None:
    if function is None:
        return
    if not callable(function):
        raise TypeError(f"{what} must be callable, got {type(function).__name__}")
    shape = _shape(function)
    if shape is not None and not _takes(shape, count):
        raise TypeError(f"{what} {_name(function)}{tuple(shape[0])} must take {form}")


class StationCallbacks:
    """The service's callback and result handler, and those of single stations (`add_station`)."""

    def __init__(
        self, callback: Callable[..., Any] | None, result_handler: Callable[..., Any] | None, pool: CallbackPool
    ) -> None:
        check_callback(callback)
        self.callback = callback
        self.result_handler = resolve_result_handler(result_handler)
        self.pool = pool
        self._callbacks: dict[str, Callable[..., Any]] = {}
        self._handlers: dict[str, ResultHandler] = {}

    def add(self, station: str, callback: Callable[..., Any] | None, handler: Callable[..., Any] | None) -> None:
        """Give `station` a callback and result handler of its own (None keeps the service's)."""
        check_callback(callback)
        resolved = resolve_result_handler(handler)
        if callback is not None:
            self._callbacks[station] = callback
        if resolved is not None:
            self._handlers[station] = resolved

    def forget(self, station: str) -> None:
        self._callbacks.pop(station, None)
        self._handlers.pop(station, None)

    def callback_of(self, station: str) -> Callable[..., Any] | None:
        return self._callbacks.get(station, self.callback) if self._callbacks else self.callback

    def handler_of(self, station: str) -> ResultHandler | None:
        return self._handlers.get(station, self.result_handler) if self._handlers else self.result_handler

    async def handle_result(self, handler: ResultHandler, station: str, module_input: Any, result: Any) -> None:
        """Pass a run's result to a result handler; its failure is counted and logged."""
        try:
            await self.call(handler.function, *handler.arguments(station, module_input, result))
        except Exception as exc:  # noqa: BLE001 - a handler's failure costs its own work only
            handle_error(exc, context=f"result_handler station={station}")

    async def call(self, function: Callable[..., Any] | None, *args: Any) -> Any:
        """`function(*args)`: awaited when it is a coroutine function, else on the pool's threads
        (an awaitable it returns is awaited too)."""
        if function is None:
            return None
        if _is_async(function):
            return await function(*args)
        result = await self.pool.run(function, *args)
        return await result if type(result) not in _PLAIN_RESULTS and inspect.isawaitable(result) else result


def _is_async(function: Callable[..., Any]) -> bool:
    """Whether `function` is a coroutine function (inspect's test is slow: asked once per callable)."""
    try:
        return _is_async_cached(function)
    except TypeError:  # an unhashable callable object
        return inspect.iscoroutinefunction(function)


@functools.lru_cache(maxsize=256)
def _is_async_cached(function: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(function)
