"""Dead letters: bad messages and failing stations, passed on to a topic of their own.

A message counted as bad input is produced to the dead-letter topic unchanged (its key, value and
headers) with headers saying where it came from and what was wrong. Its offset is committed only
after the dead-letter topic acknowledged it: the copy holds the message's position in the
engine's PositionGate until then. While
the topic cannot be written, sends are retried with backoff and the offsets stay held back, so a
crash then replays the message and it is dead-lettered again (at least once, like everything else).

A station whose callback raised `dead_letter_after_failures` times in a row gets a summary of its
input sent there too, once per streak.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any

from ..kafka import KafkaMessage
from ..kafka.message import encode_value
from ..kafka.transport import AsyncProducer
from ..topics import BadInput
from .delivery import Position
from .position_gate import PositionGate

__all__ = [
    "CALLBACK_FAILED",
    "HEADER_PREFIX",
    "DeadLetter",
    "DeadLetterQueue",
    "input_summary",
    "letter_for_message",
    "letter_for_station",
]

logger = logging.getLogger("d_a.service")

HEADER_PREFIX = "d_a."
CALLBACK_FAILED = "callback_failed"  # the d_a.kind of a failing station's input summary
MAX_ERROR_CHARS = 2000
MAX_TEXT_CHARS = 200  # a string in an input summary is cut to this
SEND_BATCH = 256  # letters sent concurrently, then acknowledged together
FIRST_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 30.0

_WHOLE_MESSAGE_KINDS = frozenset({"not_json", "wrong_shape", "unknown_topic"})


@dataclass(slots=True)
class DeadLetter:
    """One message for the dead-letter topic; `position` is the consumed message it copies, whose
    offset waits for this copy to be acknowledged."""

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    position: Position | None = None


def _header(name: str, value: object) -> tuple[str, bytes]:
    return f"{HEADER_PREFIX}{name}", str(value).encode("utf-8")


def letter_for_message(message: KafkaMessage, problems: Sequence[BadInput], module: str | None) -> DeadLetter:
    """The unchanged copy of a bad message, with its problems in headers: `kind` (the first
    problem's), `error` (every problem, one per line), `dropped` (`message`, `record` or `field`:
    the most of it that was left out)."""
    first = problems[0]
    if all(p.field_only for p in problems):
        dropped = "field"
    else:
        dropped = "message" if first.kind in _WHOLE_MESSAGE_KINDS else "record"
    error = "\n".join(str(p) for p in problems)[:MAX_ERROR_CHARS]
    headers = [
        *message.headers,
        _header("topic", message.topic),
        _header("partition", message.partition),
        _header("offset", message.offset),
        _header("kind", first.kind),
        _header("error", error),
        _header("dropped", dropped),
        _header("problems", len(problems)),
    ]
    if first.station:
        headers.append(_header("station", first.station))
    if module:
        headers.append(_header("module", module))
    raw = message.raw if message.raw is not None else b""
    return DeadLetter(message.key, raw, headers, (message.topic, message.partition, message.offset))


def letter_for_station(
    station: str, module: str | None, failures: int, error: str, summary: Mapping[str, Any]
) -> DeadLetter:
    """A failing station's input summary (JSON), keyed by the station."""
    value = {
        "station_id": station,
        "module": module,
        "failures_in_row": failures,
        "error": error[:MAX_ERROR_CHARS],
        "time": time.time(),
        "input": summary,
    }
    headers = [
        _header("kind", CALLBACK_FAILED),
        _header("station", station),
        _header("error", error[:MAX_ERROR_CHARS]),
        _header("failures", failures),
    ]
    if module:
        headers.append(_header("module", module))
    return DeadLetter(station.encode("utf-8"), encode_value(value), headers)


def input_summary(module_input: Mapping[str, Any] | None) -> dict[str, Any]:
    """Per input key: scalars as they are (strings cut short), otherwise the type and size; enough
    to see what a failing callback was given without copying a week of windows."""
    if module_input is None:
        return {}
    summary: dict[str, Any] = {}
    for key, value in module_input.items():
        if value is None or isinstance(value, (bool, int, float)):
            summary[str(key)] = value
        elif isinstance(value, str):
            summary[str(key)] = value[:MAX_TEXT_CHARS]
        elif hasattr(value, "shape") and hasattr(value, "dtype"):
            summary[str(key)] = {"type": "ndarray", "shape": list(value.shape), "dtype": str(value.dtype)}
        elif isinstance(value, Mapping):
            summary[str(key)] = {"type": "dict", "keys": len(value)}
        elif isinstance(value, Sized):
            summary[str(key)] = {"type": type(value).__name__, "length": len(value)}
        else:
            summary[str(key)] = {"type": type(value).__name__}
    return summary


class DeadLetterQueue:
    """Sends dead letters in the background, retrying until the topic takes them; a copied
    message's position is held in `gate` until its copy is acknowledged."""

    def __init__(self, topic: str, producer: AsyncProducer, gate: PositionGate) -> None:
        self.topic = topic
        self.producer = producer
        self.gate = gate
        self._letters: deque[DeadLetter] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.sent = 0
        self.send_errors = 0
        self._down_since: float | None = None

    @property
    def waiting(self) -> int:
        """Letters not acknowledged yet."""
        return len(self._letters)

    def add(self, letter: DeadLetter) -> None:
        """Queue a letter; its position (if any) is held back until the letter is acknowledged."""
        if letter.position is not None:
            self.gate.hold(letter.position)
        self._letters.append(letter)
        self._idle.clear()
        self._wake.set()

    async def run(self) -> None:
        """Send until cancelled: batches of letters, retried with backoff while the topic fails."""
        delay = FIRST_RETRY_DELAY
        while True:
            if not self._letters:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._letters[i] for i in range(min(SEND_BATCH, len(self._letters)))]
            outcomes = await asyncio.gather(*(self._send(letter) for letter in batch), return_exceptions=True)
            failed = [letter for letter, outcome in zip(batch, outcomes, strict=True) if outcome is not None]
            for _ in batch:
                self._letters.popleft()
            self._letters.extendleft(reversed(failed))  # failed ones first again, in their order
            done = [letter for letter, outcome in zip(batch, outcomes, strict=True) if outcome is None]
            self._acknowledged(done)
            if failed:
                self._failed(failed, outcomes)
                await asyncio.sleep(delay)
                delay = min(MAX_RETRY_DELAY, delay * 2)
            elif self._down_since is not None:
                logger.info(
                    "dead-letter topic %s written again after %.1f s; %d letters waiting",
                    self.topic,
                    time.monotonic() - self._down_since,
                    len(self._letters),
                )
                self._down_since, delay = None, FIRST_RETRY_DELAY

    async def flush(self, timeout: float) -> bool:
        """Wait until every letter was sent (True), or `timeout` seconds (False)."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            logger.warning(
                "dead-letter topic %s: %d letters not sent at stop; their messages' offsets stay uncommitted "
                "and the messages are read (and dead-lettered) again at the next start",
                self.topic,
                len(self._letters),
            )
            return False
        return True

    def status(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "sent": self.sent,
            "waiting": len(self._letters),
            "send_errors": self.send_errors,
            "failing_since_seconds": None if self._down_since is None else time.monotonic() - self._down_since,
        }

    async def _send(self, letter: DeadLetter) -> None:
        await self.producer.send(self.topic, letter.value, letter.key, headers=letter.headers)

    def _acknowledged(self, letters: list[DeadLetter]) -> None:
        self.sent += len(letters)
        for letter in letters:
            if letter.position is not None:
                self.gate.let_go(letter.position)

    def _failed(self, letters: list[DeadLetter], outcomes: list[Any]) -> None:
        self.send_errors += 1
        if self._down_since is not None:
            return
        self._down_since = time.monotonic()
        error = next(o for o in outcomes if o is not None)
        logger.warning(
            "dead-letter topic %s cannot be written (%s: %s): %d letters waiting, their messages' offsets held "
            "back; retrying with backoff up to %.0f s",
            self.topic,
            type(error).__name__,
            error,
            len(self._letters),
            MAX_RETRY_DELAY,
        )
