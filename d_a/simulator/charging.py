"""Charging sessions: cars arrive at idle guns, charge second by second, leave at their target SOC.

Each gun alternates between idle spells and sessions. Cars arrive at an idle gun with a
time-varying hazard chosen so that the share of charging guns p(t) follows the occupancy
curve: with sessions of mean length D, dp/dt = h(t)(1 - p) - p/D, so
h(t) = (p'(t) + p(t)/D) / (1 - p(t)), tabulated per 5-minute slot of the day.
A session's power follows a constant-current phase and a taper above 80 % SOC; its SOC
rises with the energy delivered, so it never decreases within a session.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from .clock import Tick, format_time
from .environment import occupancy
from .stations import GUN_CHARGING, GUN_IDLE, Gun, Station

# (carProducerCode, battery kWh, pack nominal V, max charge kW, share of arrivals)
CAR_MODELS: tuple[tuple[str, float, float, float, float], ...] = (
    ("BYD", 60.5, 400.0, 110.0, 0.35),
    ("GAC", 70.0, 400.0, 120.0, 0.12),
    ("TSLA", 75.0, 400.0, 170.0, 0.10),
    ("NIO", 75.0, 400.0, 125.0, 0.08),
    ("XPEV", 80.0, 800.0, 200.0, 0.08),
    ("LI", 52.0, 400.0, 100.0, 0.07),
    ("GEELY", 62.0, 400.0, 100.0, 0.10),
    ("ZEEKR", 100.0, 800.0, 250.0, 0.10),
)
_CAR_WEIGHTS = tuple(model[4] for model in CAR_MODELS)
TAPER_SOC = 80.0
_RIPPLE = 0.02  # per-second power fluctuation, share of power
SLOT_SECONDS = 300
_SLOTS = 86400 // SLOT_SECONDS
_DIGITS_ONLY = str.maketrans("", "", "-: ")


@dataclass(eq=False, slots=True)
class Session:
    """One car on one gun; the per-second fields hold the values of the latest second."""

    gun: Gun
    serial: str
    start_time: str
    producer: str
    capacity: float
    v_nom: float
    max_kw: float
    begin_soc: float
    target_soc: float
    soc: float
    voltage: float = 0.0
    current: float = 0.0
    power: float = 0.0
    end_time: str = ""  # endChargeTime: "" while charging, the last second's sendTime at the end


def voltage_at(v_nom: float, soc: float) -> float:
    """Pack voltage requested by the car at a given SOC."""
    return v_nom * (0.92 + 0.12 * soc / 100.0)


def power_at(max_kw: float, max_current: float, v_nom: float, soc: float) -> float:
    """Charging power (kW) at a given SOC: limited by gun, car and current, tapering above 80 %."""
    power = min(max_kw, voltage_at(v_nom, soc) * max_current / 1000.0)
    if soc > TAPER_SOC:
        power *= 1.0 - 0.7 * (soc - TAPER_SOC) / (100.0 - TAPER_SOC)
    return power


def _draw_car(rng: random.Random) -> tuple[tuple[str, float, float, float, float], float, float]:
    model = rng.choices(CAR_MODELS, _CAR_WEIGHTS)[0]
    begin = round(rng.uniform(8.0, 50.0), 1)
    target = float(rng.choice((80, 85, 90, 90, 95, 95, 100)))
    return model, begin, target


@cache
def mean_session_seconds(gun_kw: float, gun_amps: float) -> float:
    """Mean session length on a gun class, estimated once by coarse simulation of 400 cars."""
    rng = random.Random(0)
    step, total = 20.0, 0.0
    for _ in range(400):
        (_, capacity, v_nom, car_kw, _), soc, target = _draw_car(rng)
        max_kw, seconds = min(gun_kw, car_kw), 0.0
        while soc < target:
            soc += power_at(max_kw, gun_amps, v_nom, soc) * step / 36.0 / capacity
            seconds += step
        total += seconds
    return total / 400


@cache
def arrival_hazards(gun_kw: float, gun_amps: float) -> tuple[float, ...]:
    """Arrival hazard (cars per idle-gun second) for each 5-minute slot of the day, on a gun class."""
    mean_session = mean_session_seconds(gun_kw, gun_amps)
    hazards = []
    for slot in range(_SLOTS):
        middle = (slot + 0.5) * SLOT_SECONDS
        share = occupancy(middle)
        slope = (occupancy(middle + SLOT_SECONDS / 2) - occupancy(middle - SLOT_SECONDS / 2)) / SLOT_SECONDS
        hazards.append(max(0.0, (slope + share / mean_session) / (1.0 - share)))
    return tuple(hazards)


class ChargingProcess:
    """All guns of a fleet: schedules arrivals, steps sessions each second, keeps hour accumulators."""

    def __init__(self, stations: list[Station], seed: int) -> None:
        self._rng = random.Random(f"{seed}:charging")
        self._guns = [gun for station in stations for gun in station.guns]
        self._arrivals: dict[int, list[Gun]] = {}
        self._next_start: dict[Gun, int] = {}
        self._ended: list[Gun] = []  # guns whose session ended in the last tick
        self.charging: dict[Gun, Session] = {}

    def begin(self, tick: Tick) -> None:
        """Put the fleet in its steady state at the start: some guns mid-session, the others waiting."""
        share = occupancy(tick.second_of_day)
        for gun in self._guns:
            if self._rng.random() < share:
                self._start_session(gun, tick, self._rng.random())
            else:
                self._schedule(gun, tick)

    def step(self, tick: Tick) -> list[Session]:
        """Advance one second; return the sessions that delivered power in it (ended ones included).

        A gun whose session ended keeps that last second's power until the next tick, so host
        and meter values of the same second still include it.
        """
        for gun in self._ended:
            gun.power = 0.0
        self._ended = []
        for gun in self._arrivals.pop(tick.t, ()):
            if gun.status == GUN_IDLE and self._next_start.get(gun) == tick.t:
                self._start_session(gun, tick, 0.0)
        active = list(self.charging.values())
        uniform = self._rng.random
        for session in active:
            gun = session.gun
            voltage = voltage_at(session.v_nom, session.soc)
            power = power_at(session.max_kw, gun.max_current, session.v_nom, session.soc)
            power *= 1.0 - _RIPPLE * uniform()
            session.soc += power / 36.0 / session.capacity
            session.voltage, session.power, session.current = voltage, power, power * 1000.0 / voltage
            gun.power = power
            gun.hour_energy += power
            if power > gun.hour_max:
                gun.hour_max = power
            if session.soc >= session.target_soc:
                session.soc = session.target_soc
                session.end_time = tick.send_time
                self.release(gun, tick)
                self._ended.append(gun)
        return active

    def release(self, gun: Gun, tick: Tick) -> None:
        """Make a gun idle (its session ended or its fault cleared) and schedule its next car."""
        self.charging.pop(gun, None)
        gun.status = GUN_IDLE
        self._schedule(gun, tick)

    def _schedule(self, gun: Gun, tick: Tick) -> None:
        """Draw the next arrival at an idle gun by walking the hazard table slot by slot."""
        hazards = arrival_hazards(gun.max_power, gun.max_current)
        need = self._rng.expovariate(1.0)
        t, second = tick.t, tick.second_of_day
        while True:
            span = SLOT_SECONDS - second % SLOT_SECONDS
            rate = hazards[(second // SLOT_SECONDS) % _SLOTS]
            if rate * span >= need:
                break
            need -= rate * span
            t, second = t + span, second + span
        start = t + 1 + int(need / rate)
        self._next_start[gun] = start
        self._arrivals.setdefault(start, []).append(gun)

    def _start_session(self, gun: Gun, tick: Tick, progress: float) -> None:
        """Start a car on `gun`; `progress` > 0 starts it that share of the way to its target (at t=0)."""
        (producer, capacity, v_nom, car_kw, _), begin, target = _draw_car(self._rng)
        max_kw = min(gun.max_power, car_kw)
        soc = begin + progress * (target - begin)
        elapsed = round(capacity * (soc - begin) * 36.0 / power_at(max_kw, gun.max_current, v_nom, begin))
        start_text = format_time(tick.dt - timedelta(seconds=elapsed)) if elapsed else tick.send_time
        serial = f"{gun.station.station_id}{gun.no:02d}{start_text.translate(_DIGITS_ONLY)}"
        session = Session(gun, serial, start_text, producer, capacity, v_nom, max_kw, begin, target, soc)
        gun.status = GUN_CHARGING
        self._next_start.pop(gun, None)
        self.charging[gun] = session
