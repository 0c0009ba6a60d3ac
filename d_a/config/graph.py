"""The module dependency graph: an order in which every module comes after its dependencies."""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping

from ..errors import ConfigError

__all__ = ["dependency_order"]


def dependency_order(modules: Iterable[str], dependencies: Mapping[str, Iterable[str]]) -> list[str]:
    """Modules sorted so that each follows all it depends on (ties keep the given order).

    Raises ConfigError naming the cycle, e.g. `module_dependencies: cycle a -> b -> a`.
    """
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for module in modules:
        sorter.add(module, *dependencies.get(module, ()))
    try:
        return list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = list(reversed(exc.args[1]))
        raise ConfigError(
            f"module_dependencies: dependency cycle {' -> '.join(cycle)} (a module cannot depend on itself)"
        ) from None
