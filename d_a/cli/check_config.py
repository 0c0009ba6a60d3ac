"""`d-a check-config [PATH]`: show the resolved configuration, or every problem in it."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..config import Config, load_config
from ..errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "check-config",
        help="validate a configuration and print topics, modules and Kafka settings",
        description="Validate a configuration (default: DATA_ANALYSIS_CONFIG_PATH, ./config.yaml, "
        "then the packaged default) and print what it resolves to. Exits 2 when it is invalid.",
    )
    parser.add_argument("path", nargs="?", help="YAML or Python config file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    try:
        config = load_config(args.path)
    except ConfigError as exc:
        err = Console(stderr=True, soft_wrap=True)
        err.print(f"[bold red]invalid configuration[/] ({args.path or 'default sources'}):", highlight=False)
        for problem in exc.problems:
            err.print(f"  - {problem}", markup=False, highlight=False)
        return 2
    print_config(config, console)
    return 0


def print_config(config: Config, console: Console) -> None:
    """Topics, modules in dependency order, shared input names, and masked Kafka settings, as tables."""
    console.print(f"configuration: {config.source}", highlight=False)
    outputs = set(config.module_output_topics.values())
    topics = Table(title=f"Topics ({len(config.input_topics)} input + {len(outputs)} module output)")
    topics.add_column("topic", no_wrap=True)
    for column in ("kind", "window", "interval s", "scope", "modules"):
        topics.add_column(column)
    for name, topic in config.topics.items():
        interval = "-" if topic.interval_seconds is None else f"{topic.interval_seconds:g}"
        topics.add_row(name, topic.kind, str(topic.window_size), interval, topic.scope, ", ".join(topic.modules) or "-")
    console.print(topics)

    modules = Table(title=f"Modules ({len(config.modules)}, in dependency order)")
    for column in ("#", "module", "depends on", "output topic", "input topics"):
        modules.add_column(column, no_wrap=column in ("module", "output topic"))
    for i, module in enumerate(config.modules, 1):
        inputs = [t for t in config.module_to_topics[module] if t not in outputs]
        modules.add_row(
            str(i),
            module,
            ", ".join(config.module_dependencies.get(module, [])) or "-",
            config.module_output_topics[module],
            str(len(inputs)),
        )
    console.print(modules)
    if config.shared_names:
        console.print(shared_names_table(config))

    kafka = Table(title="Kafka settings (secrets masked)")
    kafka.add_column("client")
    kafka.add_column("setting")
    kafka.add_column("value")
    for client, settings in config.kafka.masked().items():
        for key, value in settings.items():
            kafka.add_row(client, key, str(value))
    console.print(kafka)
    mode = {None: "auto (on for more than one topic)", True: "on", False: "off"}[config.kafka.multi_consumer_mode]
    console.print(
        f"multi_consumer_mode: {mode}; connect retries: {config.kafka.max_retries} "
        f"every {config.kafka.retry_interval:g} s (exponential backoff)",
        highlight=False,
    )
    for key in config.kafka.ignored:
        console.print(f"ignored Kafka setting: {key}", markup=False, highlight=False)


def shared_names_table(config: Config) -> Table:
    """Per module, the input names several of its topics give and whose value each flat name holds."""
    table = Table(
        title=escape("Shared input names: the flat name holds the first topic's value, _topics[topic] each topic's")
    )
    for column in ("module", "names", "flat name from", "also given by"):
        table.add_column(column, no_wrap=True)
    for shared in config.shared_names:
        table.add_row(shared.module, ", ".join(shared.names), shared.owner or "-", "\n".join(shared.others))
    return table
