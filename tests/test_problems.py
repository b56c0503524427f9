"""Problems are English text for the API and say the same thing in Dutch on the pages; the words
of both are in the string catalog under `problem.`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from controller.domain import catalog
from controller.domain.cards import CARD_FORMAT_HELP
from controller.domain.problems import Place, Problem, place_said
from controller.domain.schedule import ScheduleInvalid, parse_schedule
from controller.services.member_import import ImportRejected, parse_member_csv
from controller.web.i18n import Translator

CONTROLLER = Path(__file__).resolve().parents[1] / "controller"


def _problem_keys_in_code() -> set[str]:
    """The literal keys of every Problem("...") the controller builds."""
    keys = set()
    for path in CONTROLLER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Problem"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                keys.add(node.args[0].value)
    return keys


def test_every_problem_the_code_builds_is_in_the_catalog_and_every_sentence_is_used() -> None:
    used = _problem_keys_in_code()
    assert len(used) > 30, "no Problem(...) calls found: the scan is wrong"
    assert (
        sorted(key for key in used for lang in catalog.LANGUAGES if not catalog.has(f"problem.{key}", lang))
        == []
    )
    words = ("problem.kind.", "problem.place.")  # parts of sentences, not sentences
    sentences = {
        key.removeprefix("problem.")
        for key in catalog.texts("en")
        if key.startswith("problem.") and not key.startswith(words)
    }
    assert sorted(sentences - used) == []


def test_the_card_format_in_the_problem_is_the_one_the_card_check_names() -> None:
    assert Problem("import.bad_card", card="…1234") == (
        f"card …1234: unknown card format: expected {CARD_FORMAT_HELP}"
    )


def test_a_problem_is_its_english_sentence_with_the_place_in_front() -> None:
    problem = Problem("import.duplicate_card", card="…4567", line=3)
    assert problem == "duplicate card …4567 (also on line 3)"
    line_9 = Place(("line", 9), name="line 9")
    assert problem.at(line_9) == "line 9: duplicate card …4567 (also on line 3)"
    assert problem.at(line_9).place == line_9 and problem.place is None
    assert problem.at(line_9).said("nl") == "Line 9: pas …4567 staat er twee keer in (ook op regel 3)"
    assert problem.at(line_9).said("en") == problem.at(line_9)  # the API's English, as it is
    assert Translator("nl").problem("a library's own words") == "a library's own words"


def test_an_unknown_problem_key_is_a_clear_error() -> None:
    with pytest.raises(catalog.MissingText, match="problem.import.no_such_thing"):
        Problem("import.no_such_thing")


@pytest.mark.parametrize(
    ("place", "dutch"),
    [
        (Place(("weekly", "monday"), name="monday"), "Maandag"),
        (Place(("weekly", "monday", 0, "start")), "Maandag, venster 1, begintijd"),
        (Place(("exceptions", 2, "windows", 0, "end")), "Uitzondering 3, venster 1, eindtijd"),
        (Place(("exceptions", 0, "date")), "Uitzondering 1, datum"),
        (Place(("exceptions", 0), name="2026-12-24"), "2026-12-24"),
    ],
)
def test_places_in_dutch(place: Place, dutch: str) -> None:
    assert place_said(place, "nl") == dutch


def test_places_in_english_words_for_a_page_that_wants_them() -> None:
    """The English problem text names a place as the schema does; the words exist as well."""
    assert place_said(Place(("weekly", "monday", 0, "start")), "en") == "Monday, window 1, start time"


def test_every_schedule_problem_carries_its_place_as_a_value() -> None:
    with pytest.raises(ScheduleInvalid) as invalid:
        parse_schedule(
            {
                "weekly": {
                    "tuesday": [{"start": "10:00", "end": "09:00", "kind": "staffed"}],
                    "friday": [{"start": "9:61", "end": "10:00", "kind": "staffed"}],
                },
                "exceptions": [
                    {"date": "2026-12-24", "kind": "closure"},
                    {"date": "2026-12-24", "kind": "closure"},
                ],
                "colour": "red",
            }
        )
    places = {problem.key: problem.place for problem in invalid.value.problems}
    assert places == {
        "schedule.bad_time": Place(("weekly", "friday", 0, "start")),
        "schedule.refused_value": Place(("colour",)),
    }  # pydantic stops at the structure: the cross-field checks run on a sound document
    with pytest.raises(ScheduleInvalid) as crossed:
        parse_schedule(
            {
                "weekly": {"tuesday": [{"start": "10:00", "end": "09:00", "kind": "staffed"}]},
                "exceptions": [
                    {"date": "2026-12-24", "kind": "closure"},
                    {"date": "2026-12-24", "kind": "closure"},
                ],
            }
        )
    assert [(problem.key, problem.place) for problem in crossed.value.problems] == [
        ("schedule.start_not_before_end", Place(("weekly", "tuesday"), name="tuesday")),
        ("schedule.two_exceptions", Place(("exceptions", 1), name="2026-12-24")),
    ]
    assert crossed.value.problems[0] == "tuesday: 10:00-09:00 staffed: start is not before end"


def test_schedule_problems_keep_their_key_through_pydantic() -> None:
    with pytest.raises(ScheduleInvalid) as invalid:
        parse_schedule(
            {
                "weekly": {
                    "friday": [{"start": "24:00", "end": "9:61", "kind": "staffed"}],
                    "monday": [
                        {"start": "09:00", "end": "13:00", "kind": "staffed"},
                        {"start": "12:00", "end": "14:00", "kind": "openplus"},
                    ],
                }
            }
        )
    problems = invalid.value.problems
    assert {getattr(p, "key", None) for p in problems} >= {"schedule.midnight_start", "schedule.bad_time"}
    assert (
        "weekly.friday.0.end: bad time '9:61': use HH:MM from 00:00 to 23:59, or 24:00 as an end" in problems
    )
    assert (
        "Vrijdag, venster 1, eindtijd: tijd '9:61' klopt niet: gebruik UU:MM van 00:00 tot 23:59, "
        "of 24:00 als eindtijd" in [p.said("nl") for p in problems]
    )
    with pytest.raises(ScheduleInvalid) as overlap:
        parse_schedule(
            {
                "weekly": {
                    "monday": [
                        {"start": "09:00", "end": "13:00", "kind": "staffed"},
                        {"start": "12:00", "end": "14:00", "kind": "openplus"},
                    ]
                }
            }
        )
    [problem] = overlap.value.problems
    assert problem.said("nl") == "Maandag: 12:00-14:00 Open+ overlapt met 09:00-13:00 bemand"


def test_every_import_row_reason_is_a_problem() -> None:
    data = b"patron_id;cards;name;valid_until;adult;category;pin;extra\n;12;;31-02-2027;misschien;boss;12;x\n"
    with pytest.raises(ImportRejected) as header:
        parse_member_csv(data, today=None)  # type: ignore[arg-type]
    data = "patron_id;cards;name;valid_until;adult;category;pin\n;12;;31-02-2027;misschien;boss;12\n"
    with pytest.raises(ImportRejected) as rows:
        parse_member_csv(data.encode(), today=None)  # type: ignore[arg-type]
    reasons = [error.reason for error in (*header.value.errors, *rows.value.errors)]
    assert all(isinstance(reason, Problem) for reason in reasons), reasons
    assert {r.key for r in reasons} == {
        "import.unknown_column",
        "import.no_patron_id",
        "import.no_name",
        "import.bad_card",
        "import.bad_date",
        "import.bad_flag",
        "import.bad_category",
        "import.bad_pin",
    }
