"""Waiting in tests: `until` (async) and `wait_for` (blocking) poll a condition until it holds and
return the seconds that took; past `timeout` they fail, naming what was waited for.

A condition is a callable returning a bool (`until` also takes one returning an awaitable of a
bool). What the failure names is `what` when given (a string, or a callable whose result is shown:
details read at the moment of failure), else the condition's own source (`lambda: len(seen) == 3`).
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

__all__ = ["until", "wait_for"]

Condition = Callable[[], bool | Awaitable[bool]]
What = str | Callable[[], object] | None


async def until(condition: Condition, timeout: float = 10.0, *, interval: float = 0.01, what: What = None) -> float:
    """Seconds until `condition()` (a bool, or an awaitable of one) held; AssertionError after `timeout`."""
    began = time.monotonic()
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return time.monotonic() - began
        if time.monotonic() - began > timeout:
            raise AssertionError(_not_reached(condition, timeout, what))
        await asyncio.sleep(interval)


def wait_for(
    condition: Callable[[], bool], timeout: float = 10.0, *, interval: float = 0.01, what: What = None
) -> float:
    """Seconds until `condition()` held, sleeping between tries; AssertionError after `timeout`."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            raise AssertionError(_not_reached(condition, timeout, what))
        time.sleep(interval)
    return time.monotonic() - began


def _not_reached(condition: Callable[..., object], timeout: float, what: What) -> str:
    if callable(what):
        what = f"{_source(condition)}: {what()!r}"
    return f"not reached in {timeout:g} s: {what or _source(condition)}"


def _source(condition: Callable[..., object]) -> str:
    """A lambda's text in the test (`lambda: len(seen) == 3`), the name of anything else."""
    name = getattr(condition, "__qualname__", None) or repr(condition)
    code = getattr(condition, "__code__", None)
    if code is None or code.co_name != "<lambda>" or not hasattr(code, "co_positions"):  # Python 3.10: the name
        return name
    try:
        path = inspect.getsourcefile(condition)
        source = Path(path).read_text() if path else ""
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, ValueError):
        return name
    spots = [  # where its instructions are (the first, RESUME, is at column 0 of the line)
        (line, col) for line, _, col, end in code.co_positions() if line is not None and col is not None and end
    ]
    if not spots:
        return name
    around = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Lambda)
        and all((node.lineno, node.col_offset) <= spot <= (node.end_lineno, node.end_col_offset) for spot in spots)
    ]
    if not around:
        return name
    innermost = min(around, key=lambda node: (node.end_lineno - node.lineno, node.end_col_offset - node.col_offset))
    return " ".join((ast.get_source_segment(source, innermost) or name).split())
