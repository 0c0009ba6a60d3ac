"""Build hook: pure Python by default; `D_A_COMPILE=1` compiles the hot modules with mypyc.

The modules below run for every message and every station run (ingest, topic parsing, offsets,
windows, topic inputs, field checks); compiled, a station-second costs about a fifth fewer instructions (README,
"Kafka and service figures"). They behave as the pure-Python package does: `make test` runs the
unit tests on both builds.
"""

from __future__ import annotations

import os

from setuptools import setup

COMPILED = [
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
    "d_a/windows/kinds.py",
    "d_a/windows/layout.py",
    "d_a/windows/padding.py",
    "d_a/windows/pending.py",
    "d_a/windows/per_device.py",
    "d_a/windows/per_second.py",
    "d_a/windows/slots.py",
    "d_a/windows/store.py",
    "d_a/windows/window.py",
    "d_a/modules/aligned_table.py",
    "d_a/modules/features.py",
    "d_a/modules/inputs.py",
    "d_a/modules/topic_inputs.py",
]


def ext_modules() -> list:
    if os.environ.get("D_A_COMPILE") != "1":
        return []
    from mypyc.build import mypycify

    return mypycify(COMPILED, opt_level="3")


setup(ext_modules=ext_modules())
