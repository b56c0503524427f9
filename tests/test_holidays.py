"""Dutch public holidays against published dates."""

from __future__ import annotations

from datetime import date

import pytest

from controller.domain import catalog
from controller.domain.holidays import (
    HOLIDAY_KEYS,
    dutch_holidays,
    easter_sunday,
    holiday_on,
    koningsdag,
)


@pytest.mark.parametrize(
    ("year", "easter"),
    [
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2027, date(2027, 3, 28)),
        (2038, date(2038, 4, 25)),  # latest possible
        (2285, date(2285, 3, 22)),  # earliest possible
    ],
)
def test_easter_sunday_known_dates(year: int, easter: date) -> None:
    assert easter_sunday(year) == easter
    assert easter.weekday() == 6


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (2025, date(2025, 4, 26)),  # 27 April 2025 is a Sunday -> Saturday 26th
        (2026, date(2026, 4, 27)),
        (2031, date(2031, 4, 26)),  # 27 April 2031 is a Sunday too
        (2032, date(2032, 4, 27)),
    ],
)
def test_koningsdag_moves_to_saturday_when_27_april_is_sunday(year: int, expected: date) -> None:
    assert koningsdag(year) == expected


def test_all_holidays_2026() -> None:
    by_key = {holiday.key: holiday.day for holiday in dutch_holidays(2026)}
    assert by_key == {
        "nieuwjaarsdag": date(2026, 1, 1),
        "goede_vrijdag": date(2026, 4, 3),
        "eerste_paasdag": date(2026, 4, 5),
        "tweede_paasdag": date(2026, 4, 6),
        "koningsdag": date(2026, 4, 27),
        "bevrijdingsdag": date(2026, 5, 5),
        "hemelvaartsdag": date(2026, 5, 14),
        "eerste_pinksterdag": date(2026, 5, 24),
        "tweede_pinksterdag": date(2026, 5, 25),
        "eerste_kerstdag": date(2026, 12, 25),
        "tweede_kerstdag": date(2026, 12, 26),
    }


def test_holidays_2025_and_2027_movable_feasts() -> None:
    h2025 = {holiday.key: holiday.day for holiday in dutch_holidays(2025)}
    assert h2025["goede_vrijdag"] == date(2025, 4, 18)
    assert h2025["hemelvaartsdag"] == date(2025, 5, 29)
    assert h2025["tweede_pinksterdag"] == date(2025, 6, 9)
    h2027 = {holiday.key: holiday.day for holiday in dutch_holidays(2027)}
    assert h2027["tweede_paasdag"] == date(2027, 3, 29)
    assert h2027["hemelvaartsdag"] == date(2027, 5, 6)
    assert h2027["eerste_pinksterdag"] == date(2027, 5, 16)


def test_holidays_are_in_date_order_with_both_names() -> None:
    holidays = dutch_holidays(2027)
    assert [holiday.day for holiday in holidays] == sorted(holiday.day for holiday in holidays)
    assert {holiday.key for holiday in holidays} == set(HOLIDAY_KEYS)
    assert all(catalog.has(f"holiday.{key}", lang) for key in HOLIDAY_KEYS for lang in catalog.LANGUAGES)
    kings_day = next(holiday for holiday in holidays if holiday.key == "koningsdag")
    assert (kings_day.name_nl, kings_day.name_en) == ("Koningsdag", "King's Day")
    assert kings_day.name() == "Koningsdag" and kings_day.name("en") == "King's Day"


def test_holiday_on_respects_the_switched_on_keys() -> None:
    assert holiday_on(date(2025, 4, 26)).key == "koningsdag"
    assert holiday_on(date(2025, 4, 27)) is None
    assert holiday_on(date(2026, 12, 25), frozenset({"tweede_kerstdag"})) is None
    assert holiday_on(date(2026, 12, 26), frozenset({"tweede_kerstdag"})).key == "tweede_kerstdag"


def test_two_holidays_on_one_day_2016() -> None:
    """Hemelvaartsdag fell on Bevrijdingsdag (5 May) in 2016; either key closes the day."""
    day = date(2016, 5, 5)
    assert holiday_on(day, frozenset({"hemelvaartsdag"})).key == "hemelvaartsdag"
    assert holiday_on(day, frozenset({"bevrijdingsdag"})).key == "bevrijdingsdag"
    assert holiday_on(day, frozenset({"koningsdag"})) is None
