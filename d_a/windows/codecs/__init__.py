"""Compact, lossless encodings of one column's values, and the choice among them.

Each codec holds one family of Python types: ints (int8..int64, widened as values need),
floats (float64, remembering which values were ints), bools, strings (dictionary codes, or
fixed-width bytes once most values are distinct, e.g. timestamps), lists of numbers (matrix
rows), lists of strings (codes of whole lists) and anything else (object slots). A codec raises
`Unfit` rather than store a value it cannot give back unchanged; the column then moves to a
codec that can. None and missing keys never reach a codec (the column
tags those slots), and codecs are only asked to read slots that hold a value.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet

from .base import Codec, EmptyCodec, ObjectCodec, Unfit, convert
from .lists import NumberListCodec, TextListCodec
from .numeric import BoolCodec, FloatCodec, IntCodec
from .text import DictStrCodec, FixedStrCodec

__all__ = [
    "BoolCodec",
    "Codec",
    "DictStrCodec",
    "EmptyCodec",
    "FixedStrCodec",
    "FloatCodec",
    "IntCodec",
    "NumberListCodec",
    "ObjectCodec",
    "TextListCodec",
    "Unfit",
    "codecs_for",
    "convert",
]


def codecs_for(types: AbstractSet[type]) -> tuple[type[Codec], ...]:
    """The codecs that may hold values of these types, most compact first; the last holds anything."""
    if types <= {int}:
        return IntCodec, ObjectCodec
    if types <= {int, float}:
        return FloatCodec, ObjectCodec
    if types == {bool}:
        return BoolCodec, ObjectCodec
    if types == {str}:
        return DictStrCodec, ObjectCodec
    if types == {list}:  # which one fits depends on the lists' contents
        return NumberListCodec, TextListCodec, ObjectCodec
    return (ObjectCodec,)
