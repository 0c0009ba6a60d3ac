"""`--profile`: a cProfile of the in-memory throughput run (event-loop thread), printed as the
cumulative time of the service's main parts and the top 15 functions by tottime. Not recorded."""

from __future__ import annotations

import cProfile
import io
import os
import pstats

from .env import Options, in_env
from .report import print_throughput
from .scenarios import throughput

PROFILE_PARTS = (
    ("fetch + decode + windows", "engine.py", "_consume_loop"),
    ("module input", "dispatcher.py", "get_module_input"),
    ("upload", "uploads.py", "deliver"),  # ResultUploader.deliver
)


def cumulative(stats: pstats.Stats, file_suffix: str, name: str) -> float | None:
    """Cumulative seconds of the function `name` defined in a file ending with `file_suffix`."""
    found = [
        timing[3]
        for (file, _, function), timing in stats.stats.items()  # (calls, primitive calls, tottime, cumtime, callers)
        if file.endswith(file_suffix) and function == name
    ]
    return sum(found) if found else None


def print_profile(count: int, options: Options) -> None:
    profiler = cProfile.Profile()
    result = in_env("memory", lambda env: throughput(env, count, profiler), options)
    print(f"\nprofile of the in-memory throughput run ({count:,} messages, event-loop thread, top 15 by tottime)")
    print_throughput(result)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    total = stats.total_tt
    parts = [(label, cumulative(stats, suffix, name)) for label, suffix, name in PROFILE_PARTS]
    print(
        "  cumulative: "
        + ", ".join(f"{label} {'-' if t is None else f'{t:.2f} s ({100 * t / total:.0f}%)'}" for label, t in parts)
        + f" of {total:.2f} s"
    )
    stats.sort_stats("tottime").print_stats(15)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    print("\n".join(line.replace(os.getcwd() + "/", "") for line in lines[start:] if line.strip()))
