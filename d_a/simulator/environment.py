"""The world around the stations: load curve, tariffs, calendar, weather and sun.

Everything here is a pure function of time (and seed/station for weather), so every
feed that needs the same quantity (PV power for the meter and for the PV topic, the
storage schedule for the meter and for the storage topic) sees the same value.
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta

# Target share of guns that are charging at the middle of each hour of day (linear in
# between). Stations are dominated by ride-hailing fleets that charge in the valley-price
# hours and avoid the peak ones, so the curve mirrors TARIFF_PERIODS below.
OCCUPANCY_BY_HOUR: tuple[float, ...] = (
    0.55,
    0.60,
    0.58,
    0.50,
    0.42,
    0.36,
    0.34,
    0.34,  # 00-07 valley
    0.30,
    0.28,
    0.22,
    0.22,
    0.40,
    0.42,
    0.26,
    0.24,  # 08-15
    0.24,
    0.24,
    0.26,
    0.36,
    0.42,
    0.46,
    0.50,
    0.54,  # 16-23
)

# periodType codes of SCHEDULE-CAR-PRICE.
PEAK, FLAT, VALLEY = 1, 2, 3

# (start hour, end hour, periodType): a Guangdong-like time-of-use tariff covering 24 h.
TARIFF_PERIODS: tuple[tuple[int, int, int], ...] = (
    (0, 8, VALLEY),
    (8, 10, FLAT),
    (10, 12, PEAK),
    (12, 14, FLAT),
    (14, 19, PEAK),
    (19, 24, FLAT),
)
GRID_PRICE = {PEAK: 1.05, FLAT: 0.65, VALLEY: 0.32}  # yuan per kWh
_PERIOD_SECONDS = {
    kind: sum((end - start) * 3600 for start, end, k in TARIFF_PERIODS if k == kind) for kind in (PEAK, FLAT, VALLEY)
}

# Storage cycles once a day: charged in the valley hours, discharged in the peak hours.
_STORAGE_SOC_MIN = 10.0
_STORAGE_SWING = 0.85  # share of capacity cycled per day

# Weather codes of SCHEDULE-ENVIRONMENT-WEATHER and the share of clear-sky PV they allow.
SUNNY, CLOUDY, OVERCAST, RAIN, SNOW = 0, 1, 2, 3, 4
WEATHER_PV_FACTOR = {SUNNY: 1.0, CLOUDY: 0.65, OVERCAST: 0.35, RAIN: 0.15, SNOW: 0.1}
_WEATHER_WEIGHTS = (0.40, 0.30, 0.15, 0.13, 0.02)

# Season codes (seasonTomorrow): 1 spring, 2 summer, 3 autumn, 4 winter.
_SEASON_BY_MONTH = (4, 4, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4)

# Chinese statutory holidays and make-up workdays (调休) per year. Other years fall back
# to weekends plus the fixed-date holidays.
_HOLIDAYS: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {
    2025: (
        (
            "01-01",
            "01-28",
            "01-29",
            "01-30",
            "01-31",
            "02-01",
            "02-02",
            "02-03",
            "02-04",
            "04-04",
            "04-05",
            "04-06",
            "05-01",
            "05-02",
            "05-03",
            "05-04",
            "05-05",
            "05-31",
            "06-01",
            "06-02",
            "10-01",
            "10-02",
            "10-03",
            "10-04",
            "10-05",
            "10-06",
            "10-07",
            "10-08",
        ),
        ("01-26", "02-08", "04-27", "09-28", "10-11"),
    ),
    2026: (
        (
            "01-01",
            "01-02",
            "01-03",
            "02-15",
            "02-16",
            "02-17",
            "02-18",
            "02-19",
            "02-20",
            "02-21",
            "02-22",
            "02-23",
            "04-04",
            "04-05",
            "04-06",
            "05-01",
            "05-02",
            "05-03",
            "05-04",
            "05-05",
            "06-19",
            "06-20",
            "06-21",
            "09-25",
            "09-26",
            "09-27",
            "10-01",
            "10-02",
            "10-03",
            "10-04",
            "10-05",
            "10-06",
            "10-07",
        ),
        ("01-04", "02-14", "02-28", "05-09", "09-20", "10-10"),
    ),
}
_FIXED_HOLIDAYS = ("01-01", "05-01", "10-01", "10-02", "10-03")


def occupancy(second_of_day: float) -> float:
    """Target share of charging guns at a time of day, interpolated between the hour midpoints."""
    position = (second_of_day / 3600.0 - 0.5) % 24.0
    hour = int(position)
    weight = position - hour
    return OCCUPANCY_BY_HOUR[hour] * (1.0 - weight) + OCCUPANCY_BY_HOUR[(hour + 1) % 24] * weight


def mean_occupancy() -> float:
    """Daily mean of the occupancy curve (the mean of the hourly points, as the curve is piecewise linear)."""
    return sum(OCCUPANCY_BY_HOUR) / 24.0


def tariff_period(hour: int) -> int:
    """periodType of the tariff period containing the given hour."""
    for start, end, period in TARIFF_PERIODS:
        if start <= hour < end:
            return period
    raise ValueError(f"hour out of range: {hour}")


def is_holiday(day: date) -> bool:
    """True on weekends and statutory holidays, False on workdays and make-up workdays."""
    holidays, workdays = _HOLIDAYS.get(day.year, (_FIXED_HOLIDAYS, ()))
    month_day = day.strftime("%m-%d")
    if month_day in workdays:
        return False
    return month_day in holidays or day.weekday() >= 5


def calendar_rows(year: int) -> list[dict]:
    """The SCHEDULE-ENVIRONMENT-CALENDAR records of a year (dayOfWeek 1=Monday, holiday 0/1)."""
    day = date(year, 1, 1)
    rows = []
    while day.year == year:
        rows.append({"date": day.isoformat(), "dayOfWeek": day.isoweekday(), "holiday": int(is_holiday(day))})
        day += timedelta(days=1)
    return rows


def season(day: date) -> int:
    """Season code of a day (1 spring, 2 summer, 3 autumn, 4 winter)."""
    return _SEASON_BY_MONTH[day.month - 1]


def weather_on(seed: int, station_id: str, day: date) -> int:
    """The weather code of a station on a day; deterministic, so yesterday's forecast holds today."""
    rng = random.Random(f"{seed}:weather:{station_id}:{day.toordinal()}")
    return rng.choices(range(len(_WEATHER_WEIGHTS)), _WEATHER_WEIGHTS)[0]


def sun_factor(second_of_day: int, day: date) -> float:
    """Clear-sky PV output as a share of peak: a sine between sunrise and sunset, zero at night."""
    day_length_h = 12.0 + 2.0 * math.sin(2 * math.pi * (day.timetuple().tm_yday - 80) / 365.0)
    sunrise = (12.0 - day_length_h / 2) * 3600
    x = (second_of_day - sunrise) / (day_length_h * 3600)
    return math.sin(math.pi * x) if 0.0 < x < 1.0 else 0.0


def storage_power_per_kwh(second_of_day: int) -> float:
    """Storage power in kW per kWh of capacity: < 0 charging in the valley, > 0 discharging in peaks."""
    return _storage_rate(tariff_period(second_of_day // 3600))


def storage_soc(second_of_day: int) -> float:
    """Storage SOC in percent, the integral of its power: 10 at midnight, 95 after the valley,
    10 again after the peaks."""
    delivered = 0.0  # kWh per kWh of capacity
    for start, end, period in TARIFF_PERIODS:
        span = min(second_of_day, end * 3600) - start * 3600
        if span <= 0:
            break
        delivered += _storage_rate(period) * span / 3600.0
    return _STORAGE_SOC_MIN - 100.0 * delivered


def _storage_rate(period: int) -> float:
    if period == VALLEY:
        return -_STORAGE_SWING * 3600.0 / _PERIOD_SECONDS[VALLEY]
    if period == PEAK:
        return _STORAGE_SWING * 3600.0 / _PERIOD_SECONDS[PEAK]
    return 0.0
