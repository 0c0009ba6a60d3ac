"""`d-a demo`: the simulator feeding a service on the embedded transport (lands with the service)."""

from __future__ import annotations

import argparse

from ..config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="run the demo on the embedded default")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = load_config()
    print(
        f"d_a demo: configuration OK ({len(config.input_topics)} input topics, "
        f"{len(config.modules)} modules). The streaming demo lands with the service (issue 5/6)."
    )
    return 0
