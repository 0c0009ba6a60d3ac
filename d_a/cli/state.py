"""`d-a state inspect|clear`: what the checkpoints of services' windows hold, and deleting them."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from ..config import load_config
from ..errors import ConfigError
from ..state import CheckpointStore


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "state",
        help="inspect or clear the checkpoints of services' windows (service.state_dir)",
        description="Services with service.state_dir keep checkpoints of their windows there, one "
        "subdirectory per consumer group (with service.scale_out, one per slot inside it: group/slot-p). "
        "`inspect` shows each checkpoint; `clear` deletes one (a group's: all its slots), so that "
        "service's next start begins with empty windows. Stop the service first.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    inspect = actions.add_parser("inspect", help="show each consumer group's checkpoint")
    clear = actions.add_parser("clear", help="delete a consumer group's checkpoint")
    for action in (inspect, clear):
        action.add_argument(
            "--config", help="YAML or Python config (default: DATA_ANALYSIS_CONFIG_PATH, ./config.yaml)"
        )
        action.add_argument("--state-dir", help="default: the configuration's service.state_dir")
        action.add_argument("--group", help="the consumer group (a service of module M: <group_id>.M)")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of a table")
    clear.add_argument("--all", action="store_true", help="every group's checkpoint under the state directory")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True, soft_wrap=True)
    state_dir = args.state_dir
    if state_dir is None:
        try:
            state_dir = load_config(args.config).service.state_dir
        except ConfigError as exc:
            err.print(f"invalid configuration: {exc}", markup=False, highlight=False)
            return 2
    if state_dir is None:
        err.print("no state directory: give --state-dir, or set service.state_dir", markup=False)
        return 2
    root = Path(state_dir)
    groups = _stores(root, args.group) if args.group else _groups(root)
    if args.action == "clear":
        if not args.group and not args.all:
            err.print("name the checkpoint to delete: --group GROUP, or --all", markup=False)
            return 2
        for group in groups:
            deleted = CheckpointStore(root / group).clear()
            print(f"{group}: {deleted} files deleted from {root / group}")
        return 0
    summaries = {group: CheckpointStore(root / group).describe() for group in groups}
    if args.json:
        print(orjson.dumps(summaries, option=orjson.OPT_INDENT_2).decode())
    else:
        _print(Console() if Console().is_terminal else Console(width=200), root, summaries)
    return 1 if any(_damaged(summary) for summary in summaries.values()) else 0


def _damaged(summary: dict) -> bool:
    checkpoint = summary["checkpoint"]
    return bool(summary["problems"] or (checkpoint is not None and checkpoint["missing_files"]))


def _groups(root: Path) -> list[str]:
    """Every checkpoint under `root`: a group's, or each slot's of a scaled-out group (`group/slot-p`)."""
    if not root.is_dir():
        return []
    return [name for path in sorted(root.iterdir()) if path.is_dir() for name in _stores(root, path.name)]


def _stores(root: Path, group: str) -> list[str]:
    """A group's checkpoint, or its slots' (`group/slot-p`, service.scale_out) when it has those."""
    slots = sorted(
        (path for path in (root / group).glob("slot-*") if (path / "manifest").exists()),
        key=lambda path: int(path.name[5:]) if path.name[5:].isdigit() else -1,
    )
    found = [group] if (root / group / "manifest").exists() or not slots else []
    return found + [f"{group}/{path.name}" for path in slots]


def _print(console: Console, root: Path, summaries: dict[str, dict]) -> None:
    if not summaries:
        console.print(f"no checkpoint under {root}", highlight=False)
        return
    table = Table(title=f"Checkpoints under {root}")
    for column in ("group", "round", "written", "stations", "change files", "size", "partitions", "problems"):
        table.add_column(column)
    for group, summary in summaries.items():
        checkpoint = summary["checkpoint"]
        problems = "\n".join(summary["problems"]) or "-"
        if checkpoint is None:
            table.add_row(group, "-", "-", "-", "-", "-", "-", problems)
            continue
        if checkpoint["missing_files"]:
            problems = f"files missing for {', '.join(checkpoint['missing_files'])}"
        age = time.time() - checkpoint["written_at"]
        table.add_row(
            group,
            str(checkpoint["round"]),
            f"{age:.0f} s ago",
            str(checkpoint["stations"]),
            str(checkpoint["change_files"]),
            f"{checkpoint['bytes'] / 1e6:.1f} MB",
            str(len(checkpoint["offsets"])),
            problems,
        )
    console.print(table)
