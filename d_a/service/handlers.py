"""The user's functions a service calls, checked against the seeds' signatures when they are given.

`callback(station_id, module_input)`; `result_handler` in either of the seeds' two forms,
`(station_id, result)` (the constructors') or `(station_id, module_input, result)` (`start`'s);
`batch_upload_handler(batch_id, results_list)`. A function that fits none of them is a TypeError
naming the fix at once, instead of a failure at every station run later.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ResultHandler", "check_batch_upload_handler", "check_callback", "resolve_result_handler"]

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
    """Which seeds' form `function` has; TypeError naming the fix when it has neither."""
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
