"""One birth-date rule (controller/domain/members.py) for the import, the API and the CLI."""

from __future__ import annotations

from datetime import date

import pytest

from controller.domain.members import EARLIEST_BIRTH_DATE, birth_date_problem, birth_date_range
from controller.services.member_import import ImportRejected, parse_member_csv
from tests.helpers import csv_file, csv_line

TODAY = date(2026, 11, 25)


@pytest.mark.parametrize(
    ("birth", "problem"),
    [
        (date(9999, 12, 31), "birth_date 9999-12-31 is in the future (today is 2026-11-25)"),
        (date(2026, 11, 26), "birth_date 2026-11-26 is in the future (today is 2026-11-25)"),
        (date(1899, 12, 31), "birth_date 1899-12-31 is before 1900-01-01"),
        (TODAY, None),
        (EARLIEST_BIRTH_DATE, None),
    ],
)
def test_birth_date_problem(birth: date, problem: str | None) -> None:
    assert birth_date_problem(birth, TODAY) == problem


def test_the_import_uses_the_same_bounds() -> None:
    first, last = birth_date_range(TODAY)
    with pytest.raises(ImportRejected) as rejected:
        parse_member_csv(
            csv_file(csv_line(1, birth_date="2026-11-26"), csv_line(2, birth_date="1899-12-31")), TODAY
        )
    assert [str(e) for e in rejected.value.errors] == [
        f"line 2: birth_date '2026-11-26' is not between {first} and {last}",
        f"line 3: birth_date '1899-12-31' is not between {first} and {last}",
    ]
    assert parse_member_csv(csv_file(csv_line(1, birth_date=str(TODAY))), TODAY)
