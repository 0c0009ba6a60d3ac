"""Realistic, deterministic feed of all 13 input topics for many stations (demo, tests, benchmarks).

    sim = StationSimulator(stations=20, seed=1, history_hours=24)
    for message in sim.initial_messages() + sim.advance(60):
        producer.send(message.topic, key=message.key, value=message.value, timestamp_ms=message.timestamp_ms)

`rates(stations)` gives the expected messages per simulated second per topic, to size runs.

Conventions of the generated data (beyond the wire formats in docs/ARCHITECTURE.md):
- sendTime is the wall time of the simulated clock; timestamp_ms is the same instant as
  epoch ms (a naive `start` is read as local time). Ids: stations ST0001.., host H0001..,
  meter M0001.., storage S0001-1.., PV PV0001-1..; one host per station (PARAM hostCode),
  powerNum = its DC modules (the length of dcWorkStatus / dcdcPower).
- Gun status: 0 idle, 1 charging, 2 fault. dcWorkStatus: 0 standby, 1 working, 2 fault.
- Car orders: endChargeTime is "" while charging and equals sendTime on the session's
  last message; soc, outputPower (kW), terminalRequireVoltage (V) and
  terminalRequireElectric (A) are those of the second just charged; soc never decreases.
- REALTIME-DATA rows: sendTime is the start of the hour the row covers; station values
  are the sums of the gun values. Hours before `start` are synthesized, later hours are
  measured from the car-order power.
- CAR-PRICE periodType: 1 peak, 2 flat, 3 valley; "HH:MM:SS" times, the last ends "24:00:00".
  WEATHER codes: 0 sunny, 1 cloudy, 2 overcast, 3 rain, 4 snow; seasonTomorrow 1 spring
  .. 4 winter. CALENDAR: dayOfWeek 1 = Monday, holiday 1 on weekends and Chinese statutory
  holidays, 0 on workdays and make-up workdays.
- Storage power > 0 discharging, < 0 charging. DEVICE-ERROR codes: 0 = no error; a message
  when an incident is raised and when it clears.
- Re-sent reference data: realtime history hourly, weather daily, prices monthly,
  calendar yearly; PARAM only in `initial_messages` (1,000 stations per message).
"""

from .engine import DEFAULT_START, StationSimulator, rates
from .faults import FAULT_KINDS, FaultConfig
from .message import TOPICS, SimMessage
from .mock_producer import MockProducer

__all__ = [
    "DEFAULT_START",
    "FAULT_KINDS",
    "TOPICS",
    "FaultConfig",
    "MockProducer",
    "SimMessage",
    "StationSimulator",
    "rates",
]
