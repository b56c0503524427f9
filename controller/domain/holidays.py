"""Dutch public holidays, computed per year so the schedule needs no calendar dependency.

Valid from 2014 on (Koningsdag replaced Koninginnedag, 30 April, that year).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Literal, get_args

from controller.domain.catalog import DEFAULT_LANGUAGE, render

HolidayKey = Literal[
    "nieuwjaarsdag",
    "goede_vrijdag",
    "eerste_paasdag",
    "tweede_paasdag",
    "koningsdag",
    "bevrijdingsdag",
    "hemelvaartsdag",
    "eerste_pinksterdag",
    "tweede_pinksterdag",
    "eerste_kerstdag",
    "tweede_kerstdag",
]

# Stable keys, in calendar order; the schedule stores these, so never rename one.
HOLIDAY_KEYS: tuple[str, ...] = get_args(HolidayKey)


@dataclass(frozen=True)
class Holiday:
    """One Dutch public holiday in one year; its names are in the string catalog
    (`holiday.<key>` in controller/domain/strings/*.toml)."""

    key: str
    day: date

    def name(self, lang: str = DEFAULT_LANGUAGE) -> str:
        """The holiday's name in `lang` ("nl" or "en")."""
        return render(f"holiday.{self.key}", lang)

    @property
    def name_nl(self) -> str:
        return self.name("nl")

    @property
    def name_en(self) -> str:
        return self.name("en")


def easter_sunday(year: int) -> date:
    """Western Easter Sunday by the anonymous Gregorian algorithm (Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 - the algorithm's own name
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


def koningsdag(year: int) -> date:
    """27 April, moved to Saturday 26 April when the 27th is a Sunday."""
    day = date(year, 4, 27)
    return day - timedelta(days=1) if day.weekday() == 6 else day


def dutch_holidays(year: int) -> list[Holiday]:
    """All Dutch public holidays of a year, in date order."""
    easter = easter_sunday(year)
    days = {
        "nieuwjaarsdag": date(year, 1, 1),
        "goede_vrijdag": easter - timedelta(days=2),
        "eerste_paasdag": easter,
        "tweede_paasdag": easter + timedelta(days=1),
        "koningsdag": koningsdag(year),
        "bevrijdingsdag": date(year, 5, 5),
        "hemelvaartsdag": easter + timedelta(days=39),
        "eerste_pinksterdag": easter + timedelta(days=49),
        "tweede_pinksterdag": easter + timedelta(days=50),
        "eerste_kerstdag": date(year, 12, 25),
        "tweede_kerstdag": date(year, 12, 26),
    }
    holidays = [Holiday(key, day) for key, day in days.items()]
    return sorted(holidays, key=lambda holiday: holiday.day)


def holiday_on(day: date, keys: frozenset[str] | None = None) -> Holiday | None:
    """The holiday falling on `day`, considering only `keys` when given (None = all)."""
    for holiday in _holidays_by_day(day.year).get(day, ()):
        if keys is None or holiday.key in keys:
            return holiday
    return None


@lru_cache(maxsize=64)
def _holidays_by_day(year: int) -> Mapping[date, tuple[Holiday, ...]]:
    """A year's holidays by date (two can share one: Hemelvaart on 5 May), worked out
    once: a mode lookup asks about every day of a 400-day stretch, in the door process."""
    by_day: dict[date, tuple[Holiday, ...]] = {}
    for holiday in dutch_holidays(year):
        by_day[holiday.day] = (*by_day.get(holiday.day, ()), holiday)
    return MappingProxyType(by_day)
