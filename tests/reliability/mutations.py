"""Hypothesis-drawn mutations of simulator messages, each with what the service must make of it.

A mutation replaces one clean message by what it sends instead (`Sent`): bad for certain (it must
be counted, and dead-lettered, under `expect`), uncertain (random junk in one field: it may or may
not be bad), or good (a duplicate, a reordering, a station that appears once). `reference` is what a
clean-fed dispatcher gets instead, so stations no mutation touched must end with identical inputs.
Whole-message mutations apply to every topic; record-level ones to single-station messages whose
value is one flat record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import orjson
from hypothesis import strategies as st

from d_a.config import Config
from d_a.simulator.message import SimMessage
from d_a.topics.fields import MAX_LIST_LENGTH
from d_a.topics.routing import DEVICE_ID_KEYS, STATION_ID_KEYS

WHOLE_MESSAGE = ("truncate", "non_utf8", "nan_token", "empty", "tombstone", "too_deep", "scalar")
RECORD_LEVEL = ("missing_id", "wrong_type", "too_large", "junk_field", "junk_time", "duplicate", "reorder", "once")
OPERATORS = WHOLE_MESSAGE + RECORD_LEVEL
_NO_JUNK = ("truncate", "empty", "tombstone")  # whole-message mutations that need no drawn value
EXPECTED_KIND = {
    "truncate": "not_json",
    "non_utf8": "not_json",
    "nan_token": "not_json",
    "empty": "not_json",
    "tombstone": "not_json",
    "too_deep": "not_json",
    "scalar": "wrong_shape",
    "missing_id": "missing_id",
    "wrong_type": "wrong_type",
    "too_large": "too_large",
}
ROUTING_KEYS = (*STATION_ID_KEYS, *DEVICE_ID_KEYS)
_NUMBER = re.compile(rb'":(-?\d+(?:\.\d+)?)(?=[,}\]])')  # a number that is an object's value
_INVALID_UTF8 = (b"\xff", b"\xc3\x28", b"\x80", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80")
_NAN_TOKENS = (b"NaN", b"Infinity", b"-Infinity")
_TEXT_INCOMPATIBLE = {"number", "integer", "numbers", "bool", "list", "object"}  # a non-empty text is wrong here

_INT64 = st.integers(-(2**63), 2**63 - 1)  # what JSON encoders write
json_values = st.recursive(
    st.none() | st.booleans() | _INT64 | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


@dataclass(frozen=True)
class Mutation:
    operator: str
    target: int  # which message of the chunk (modulo its length)
    where: float  # a position in [0, 1): where to cut or insert, which field
    junk: object = None
    size: int = 0


@st.composite
def mutations(draw: st.DrawFn) -> Mutation:
    operator = draw(st.sampled_from(OPERATORS))
    junk: object = None
    size = 0
    if operator == "non_utf8":
        junk = draw(st.sampled_from(_INVALID_UTF8))
    elif operator == "nan_token":
        junk = draw(st.sampled_from(_NAN_TOKENS))
    elif operator == "too_deep":
        size = draw(st.integers(1_030, 3_000))
    elif operator == "scalar":
        junk = draw(st.none() | st.booleans() | _INT64 | st.floats(allow_nan=False) | st.text(max_size=20))
    elif operator == "wrong_type":
        junk = "x" + draw(st.text(max_size=10))
    elif operator == "too_large":
        size = draw(st.integers(MAX_LIST_LENGTH + 1, MAX_LIST_LENGTH + 2_000))
    elif operator in ("junk_field", "junk_time"):
        junk = draw(json_values)
    return Mutation(operator, draw(st.integers(0, 2**31)), draw(st.floats(0, 1, exclude_max=True)), junk, size)


@dataclass
class Sent:
    """One message produced. `expect`: the bad-input kind it must be counted and dead-lettered
    under (None: not bad); `uncertain`: it may be bad or not."""

    topic: str
    key: bytes | None
    value: bytes | None
    expect: str | None = None
    uncertain: bool = False


@dataclass
class Outcome:
    sent: list[Sent] = field(default_factory=list)
    reference: list[SimMessage] = field(default_factory=list)  # what the clean-fed dispatcher gets
    touched: set[str] = field(default_factory=set)  # stations whose inputs may differ from the reference
    held: SimMessage | None = None  # `reorder`: sent after the next message


class Mutator:
    """Applies mutations to messages of the topics of `config`."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._once = 0

    def apply(self, mutation: Mutation, message: SimMessage, *, whole_only: bool = False) -> Outcome:
        record = None if whole_only else self._flat_record(message)
        operator = mutation.operator
        if operator in RECORD_LEVEL and record is None:
            operator = _NO_JUNK[mutation.target % len(_NO_JUNK)]  # a whole-message one instead
        if operator in WHOLE_MESSAGE:
            return Outcome(
                sent=[
                    Sent(message.topic, message.key, self._whole(operator, mutation, message), EXPECTED_KIND[operator])
                ]
            )
        assert record is not None
        station = message.station_id or ""
        if operator == "duplicate":
            return Outcome([Sent(message.topic, message.key, message.value)] * 2, [message, message], {station})
        if operator == "reorder":
            return Outcome(reference=[message], touched={station}, held=message)
        if operator == "once":
            self._once += 1
            newcomer = f"STONCE{self._once:06d}"
            for key in ROUTING_KEYS:
                if key in record:
                    record[key] = newcomer if key in STATION_ID_KEYS else f"HONCE{self._once:06d}"
            return Outcome([Sent(message.topic, newcomer.encode(), orjson.dumps(record))])
        if operator == "missing_id":
            for key in ROUTING_KEYS:
                record.pop(key, None)
            return Outcome([Sent(message.topic, None, orjson.dumps(record), "missing_id")])
        topic = self.config.topics[message.topic]
        if operator == "junk_time":
            record[topic.time_field] = mutation.junk
            return Outcome([Sent(message.topic, message.key, orjson.dumps(record), uncertain=True)], touched={station})
        candidates = self._fields(message.topic, record, text_incompatible=operator == "wrong_type")
        if not candidates:
            return Outcome([Sent(message.topic, message.key, message.value)], [message])
        name = candidates[int(mutation.where * len(candidates))]
        if operator == "wrong_type":
            record[name], expect, uncertain = mutation.junk, "wrong_type", False
        elif operator == "too_large":
            record[name], expect, uncertain = [0] * mutation.size, "too_large", False
        else:
            record[name], expect, uncertain = mutation.junk, None, True
        return Outcome([Sent(message.topic, message.key, orjson.dumps(record), expect, uncertain)], touched={station})

    def _whole(self, operator: str, mutation: Mutation, message: SimMessage) -> bytes | None:
        raw = message.value
        at = int(mutation.where * len(raw))
        if operator == "truncate":
            return raw[:at]
        if operator == "non_utf8":
            return raw[:at] + mutation.junk + raw[at:]
        if operator == "nan_token":
            found = _NUMBER.search(raw)
            if found is None:
                return raw[:at]  # no number to replace: cut it instead (still not JSON)
            return raw[: found.start(1)] + mutation.junk + raw[found.end(1) :]
        if operator == "empty":
            return b""
        if operator == "tombstone":
            return None
        if operator == "too_deep":
            return b"[" * mutation.size + raw + b"]" * mutation.size
        return orjson.dumps(mutation.junk)  # scalar

    def _flat_record(self, message: SimMessage) -> dict | None:
        """The message's one record, when it is a flat object of one station."""
        topic = self.config.topics.get(message.topic)
        if topic is None or topic.envelope or topic.scope == "global" or message.station_id is None:
            return None
        value = orjson.loads(message.value)
        if not isinstance(value, dict) or not any(key in value for key in STATION_ID_KEYS):
            return None
        return value

    def _fields(self, topic: str, record: dict, *, text_incompatible: bool) -> list[str]:
        config = self.config.topics[topic]
        names = [f for f in config.fields if f in record and f not in ROUTING_KEYS and f != config.time_field]
        if text_incompatible:
            names = [f for f in names if config.types.get(f) in _TEXT_INCOMPATIBLE]
        return names
