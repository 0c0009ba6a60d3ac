"""Tails: what a restored service, or one given partitions from another instance, reads again,
partition by partition, and what each part is.

After a restore each partition is read from the lowest offset a window needs, and the messages
up to where new data begins fall into parts (at most one of each, in this order):

- `REBUILT`: from the restore horizon up to the restored windows' offset (or the commit): only
  the stations being rebuilt (damaged checkpoint files; every station without a checkpoint)
  have these written; no callback runs on them;
- `REPLAYED`: from the round's offset up to the committed one: the callbacks saw these messages
  before the restart and the windows lack them: written, nothing runs;
- `ROUTED`: from the committed offset up to the round's: the windows hold these messages but no
  callback had confirmed them: not written (except for stations being rebuilt), their stations run.

A partition a scaled-out instance is given (`StationOwnership`) has one part:

- `MOVED`: from the restore horizon up to the group's committed offset: the previous owner's
  callbacks saw these messages; written for every station, nothing runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..kafka.message import KafkaMessage, TopicPartition

__all__ = ["MOVED", "REBUILT", "REPLAYED", "ROUTED", "Split", "Tails"]

REBUILT = "rebuilt"
REPLAYED = "replayed"
ROUTED = "routed"
MOVED = "moved"


@dataclass(slots=True)
class Split:
    """A poll batch sorted by part (each list in the batch's order)."""

    fresh: list[KafkaMessage] = field(default_factory=list)
    rebuilt: list[KafkaMessage] = field(default_factory=list)
    replayed: list[KafkaMessage] = field(default_factory=list)
    routed: list[KafkaMessage] = field(default_factory=list)
    moved: list[KafkaMessage] = field(default_factory=list)


class Tails:
    """Per partition, the parts still to be read (their end offsets, ascending)."""

    def __init__(self) -> None:
        self._parts: dict[TopicPartition, list[tuple[int, str]]] = {}
        self.read_again = 0  # messages rebuilt, replayed or moved so far

    def __bool__(self) -> bool:
        return bool(self._parts)

    def add(self, tp: TopicPartition, end: int, part: str) -> None:
        """Messages of `tp` below `end` (and above the previous part's end) belong to `part`."""
        self._parts.setdefault(tp, []).append((end, part))

    def drop(self, partitions: list[TopicPartition]) -> None:
        """Forget the parts of `partitions` (they moved to another instance)."""
        for tp in partitions:
            self._parts.pop(tp, None)

    def pending(self) -> dict[TopicPartition, list[tuple[int, str]]]:
        return {tp: list(parts) for tp, parts in self._parts.items()}

    @property
    def replaying(self) -> bool:
        """Whether messages no callback runs on are still to be read (rebuilt, replayed, moved)."""
        return any(part != ROUTED for parts in self._parts.values() for _, part in parts)

    def split(self, messages: list[KafkaMessage]) -> Split:
        """`messages` sorted into their parts; a partition read past its last part is done."""
        parts_of = self._parts
        split = Split()
        lists = {REBUILT: split.rebuilt, REPLAYED: split.replayed, ROUTED: split.routed, MOVED: split.moved}
        for message in messages:
            tp = message.tp
            parts = parts_of.get(tp)
            if parts is None:
                split.fresh.append(message)
                continue
            offset = message.offset
            while parts and offset >= parts[0][0]:
                parts.pop(0)
            if not parts:
                del parts_of[tp]
                split.fresh.append(message)
                continue
            lists[parts[0][1]].append(message)
            if offset == parts[-1][0] - 1:  # the last message of the last part: nothing more to check
                del parts_of[tp]
        self.read_again += len(split.rebuilt) + len(split.replayed) + len(split.moved)
        return split
