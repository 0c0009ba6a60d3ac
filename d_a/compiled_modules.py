"""The modules `D_A_COMPILE=1 pip install .` compiles with mypyc: they run for every message and
every station run (ingest, topic parsing, offsets, windows, topic inputs, field checks). setup.py
reads this list; the unit tests' run on the compiled build (`make test`) checks each is compiled.
The package behaves the same without them.
"""

from __future__ import annotations

__all__ = ["COMPILED_MODULES", "module_names"]

COMPILED_MODULES = (
    "d_a/dispatcher.py",
    "d_a/kafka/offsets.py",
    "d_a/service/delivery.py",
    "d_a/parser_base.py",
    "d_a/topics/base.py",
    "d_a/topics/routing.py",
    "d_a/topics/fields.py",
    "d_a/windows/batch.py",
    "d_a/windows/codecs/base.py",
    "d_a/windows/codecs/numeric.py",
    "d_a/windows/codecs/text.py",
    "d_a/windows/codecs/lists.py",
    "d_a/windows/columns.py",
    "d_a/windows/due_seconds.py",
    "d_a/windows/kinds.py",
    "d_a/windows/layout.py",
    "d_a/windows/padding.py",
    "d_a/windows/pending.py",
    "d_a/windows/per_device.py",
    "d_a/windows/per_second.py",
    "d_a/windows/sliding.py",
    "d_a/windows/slots.py",
    "d_a/windows/stations.py",
    "d_a/windows/store.py",
    "d_a/windows/window.py",
    "d_a/modules/features.py",
    "d_a/inputs/aligned_table.py",
    "d_a/inputs/assembly.py",
    "d_a/inputs/topic_cache.py",
    "d_a/inputs/topic_inputs.py",
)


def module_names() -> list[str]:
    """The compiled modules' import names (`d_a.windows.store`)."""
    return [path.removesuffix(".py").replace("/", ".") for path in COMPILED_MODULES]
