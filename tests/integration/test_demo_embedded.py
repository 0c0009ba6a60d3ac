"""`d-a demo --broker embedded`: the same demo through the real Kafka-protocol broker."""

from __future__ import annotations

from d_a.cli import main


def test_demo_through_the_embedded_broker(capsys) -> None:
    code = main(["demo", "--broker", "embedded", "--duration", "5", "--stations", "6", "--speed", "120"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "transport kafka" in out and "demo OK" in out
