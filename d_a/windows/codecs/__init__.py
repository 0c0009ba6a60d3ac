"""Compact, lossless encodings of one column's values, and the choice among them.

Each codec holds one family of Python types: ints (int8..int64, widened as values need),
floats (float64, remembering which values were ints), bools, strings (dictionary codes, or
fixed-width bytes once most values are distinct, e.g. timestamps) and anything else (object
slots). A codec raises `Unfit` rather than store a value it cannot give back unchanged; the
column then moves to a codec that can. None and missing keys never reach a codec (the column
tags those slots), and codecs are only asked to read slots that hold a value.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet

from .base import Codec, EmptyCodec, ObjectCodec, Unfit, convert
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
    "ObjectCodec",
    "Unfit",
    "codec_for",
    "convert",
]


def codec_for(types: AbstractSet[type]) -> type[Codec]:
    """The most compact codec family for values of these types."""
    if types <= {int}:
        return IntCodec
    if types <= {int, float}:
        return FloatCodec
    if types == {bool}:
        return BoolCodec
    if types == {str}:
        return DictStrCodec
    return ObjectCodec
