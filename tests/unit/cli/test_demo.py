"""`d-a demo` on the in-memory transport: real callbacks, real batches, exit 0."""

from __future__ import annotations

from d_a.cli import main
from d_a.cli.demo import forecast_next_hour


def test_demo_runs_headless_and_ends_ok(capsys) -> None:
    code = main(["demo", "--duration", "3", "--stations", "8", "--speed", "120"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "demo OK" in out
    summary = next(line for line in out.splitlines() if line.startswith("summary:"))
    assert " 0 callbacks" not in summary and "1 batches uploaded" in out.replace("\n", " ")
    assert "example module input (load_prediction" in out


def test_the_demo_model_forecasts_from_the_same_hour_on_earlier_days() -> None:
    history = [float(h % 24) for h in range(48)]  # two days, load = hour of day
    result = forecast_next_hour("S", {"outputPowerPerStationAvg_window": history, "active_sessions": 3, "holiday": 0})
    assert result == {"forecast_next_hour_kw": 0.0, "history_hours": 48, "charging_now": 3, "holiday": 0}
    assert forecast_next_hour("S", {"outputPowerPerStationAvg_window": []}) is None
    assert forecast_next_hour("S", {"outputPowerPerStationAvg_window": [5.0, 7.0]})["forecast_next_hour_kw"] == 7.0
