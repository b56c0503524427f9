"""One row of the member list CSV checked and turned into a MemberRow.

Split from controller.services.member_import (reading the file: decoding, the header, the
stream of rows, refusing the whole file) because this is the other job: the rules for each
field (patron id, name, cards, dates, flags, category, PIN) and the problems that name what is
wrong, made quick for a million rows.
"""

from __future__ import annotations

import re
from datetime import date

from controller.domain.cards import CardFormatError, card_hint, normalise_card
from controller.domain.members import (
    BLOCK_NOTE_MAX_LENGTH,
    NEVER,
    Category,
    MemberRow,
    adult_on,
    birth_date_range,
)
from controller.domain.patron_ids import PATRON_ID_MAX_LENGTH, patron_id_problem
from controller.domain.pins import PIN_PATTERN
from controller.domain.problems import Problem
from controller.domain.text import text_problem

YES = {"1", "y", "yes", "j", "ja", "true", "waar"}
NO = {"", "0", "n", "no", "nee", "false", "onwaar"}
CATEGORIES = {c.value: c for c in Category}
DATES_REMEMBERED = 50_000  # parsed dates kept by their text (a few MB at most)
# Dates other than the birth date: the same years the API accepts for a point in time. A
# membership "valid until 9999-12-31" is refused with its line rather than stored.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9998, 12, 31)
# The usual values, matched in one C call each; anything else takes the full check that names
# its problem. A patron id of printable ASCII is one patron_id_problem takes (its own quick
# path); a card of 8-14 ASCII digits is already in normal form (normalise_card's result).
_USUAL_PATRON_ID = re.compile(rf"[!-~]{{1,{PATRON_ID_MAX_LENGTH}}}").fullmatch
_USUAL_CARD = re.compile(r"[0-9]{8,14}").fullmatch
_IS_PIN = PIN_PATTERN.fullmatch


class Columns:
    """Turns one row's fields into a MemberRow, with the header's column positions looked up
    once (a million rows make the per-row cost the import's cost: the usual row takes the
    quick paths below, an unusual or bad one the full checks that name its problem)."""

    def __init__(self, header: list[str], today: date) -> None:
        position = {name: n for n, name in enumerate(header)}
        self.today = today
        self.patron_id = position["patron_id"]
        self.cards = position["cards"]
        self.name = position["name"]
        self.valid_until = position["valid_until"]
        self.birth_date = position.get("birth_date")
        self.adult = position.get("adult")
        self.registered = position.get("openplus_registered")
        self.blocked = position.get("blocked")
        self.blocked_until = position.get("blocked_until")
        self.category = position.get("category")
        self.pin = position.get("pin")
        self.block_note = position.get("block_note")
        self.guardian_consent = position.get("guardian_consent")
        self.more_time = position.get("more_time")
        # Good dates by their text, per column (most rows share their dates; a bad one is not
        # kept, its problems are worked out again), and the 18th birthday by the birth date's
        # text. Emptied when full, so they stay small whatever the file.
        self._valid_until_days: dict[str, date] = {}
        self._registered_days: dict[str, date] = {}
        self._blocked_until_days: dict[str, date] = {}
        self._days = {
            "valid_until": self._valid_until_days,
            "openplus_registered": self._registered_days,
            "blocked_until": self._blocked_until_days,
        }
        self._adult_on: dict[str, date] = {}

    def row(self, fields: list[str], problems: list[Problem]) -> MemberRow | None:
        """The row, or None with the reasons added to `problems` (none for an empty line).

        One straight path for the usual row (a million rows make every call count): each
        field is checked by a pattern or a remembered value first, and only a field that
        fails that takes the full check that names its problem.
        """
        values = list(map(str.strip, fields))
        if not any(values):
            return None
        patron_id = values[self.patron_id]
        if not _USUAL_PATRON_ID(patron_id):
            if not patron_id:
                problems.append(Problem("import.no_patron_id"))
            elif patron_id_problem(patron_id):  # the API's rule too (domain/patron_ids.py)
                problems.append(Problem("import.bad_patron_id"))
        name = values[self.name]
        if not name:
            problems.append(Problem("import.no_name"))
        elif not name.isprintable():  # printable text is good text: the full check is rarer
            refused = _refused_character(name)
            if refused:
                problems.append(Problem("import.bad_name", position=refused[0], code=refused[1]))
        text = values[self.cards]
        cards = (text,) if _USUAL_CARD(text) else _cards(text, problems)
        text = values[self.valid_until]
        valid_until = self._valid_until_days.get(text) or self._date(
            text, "valid_until", problems, required=True
        )
        registered = blocked_until = None
        if self.registered is not None and (text := values[self.registered]):
            registered = self._registered_days.get(text) or self._date(text, "openplus_registered", problems)
        if self.blocked_until is not None and (text := values[self.blocked_until]):
            blocked_until = self._blocked_until_days.get(text) or self._date(text, "blocked_until", problems)
        blocked = False
        if self.blocked is not None and (text := values[self.blocked]) not in NO:
            blocked = _flag(text, "blocked", problems)
        if self.birth_date is not None and (text := values[self.birth_date]):
            adult_from = self._adult_on.get(text) or self._birth_adult_on(text, problems)
        else:
            adult_from = self._adult_from_flag(values, problems)
        category = CATEGORIES.get(values[self.category]) if self.category is not None else None
        if category is None:
            category = self._category(values, problems)
        blocked = blocked or blocked_until is not None
        note = None
        if self.block_note is not None and (text := values[self.block_note]):
            note = _block_note(text, blocked, problems)
        consent = more_time = False
        if self.guardian_consent is not None and (text := values[self.guardian_consent]) not in NO:
            consent = _flag(text, "guardian_consent", problems)
        if self.more_time is not None and (text := values[self.more_time]) not in NO:
            more_time = _flag(text, "more_time", problems)
        pin = values[self.pin] if self.pin is not None else ""
        if pin and not _IS_PIN(pin):  # controller/domain/pins.py's is_pin
            problems.append(Problem("import.bad_pin"))
        if problems:
            return None
        # Built by position with tuple.__new__ (what MemberRow(...) does, minus its Python
        # wrapper): a million rows make even keywords cost seconds.
        return _new_tuple(
            MemberRow,
            (
                patron_id,
                name,
                cards,
                adult_from,
                valid_until,
                registered,
                blocked,
                blocked_until,
                category,
                note,
                consent,
                more_time,
                pin or None,
            ),
        )

    def _date(
        self,
        value: str,
        column: str,
        problems: list[Problem],
        required: bool = False,
        first: date = FIRST_DAY,
        last: date = LAST_DAY,
    ) -> date | None:
        """_date, remembered by text when good (callers look in self._days first)."""
        day = _date(value, column, problems, required, first, last)
        if day is not None:
            days = self._days[column]
            if len(days) >= DATES_REMEMBERED:
                days.clear()
            days[value] = day
        return day

    def _birth_adult_on(self, text: str, problems: list[Problem]) -> date | None:
        """The 18th birthday for a birth date's text (remembered), or None with its problem."""
        first, last = birth_date_range(self.today)  # birth_date_problem's rule, said as a Problem
        birth = _date(text, "birth_date", problems, first=first, last=last)
        if birth is None:
            return None
        if len(self._adult_on) >= DATES_REMEMBERED:
            self._adult_on.clear()
        adult_from = self._adult_on[text] = adult_on(birth)
        return adult_from

    def _adult_from_flag(self, values: list[str], problems: list[Problem]) -> date | None:
        """Without a birth date, the adult flag says: adult from today, or never."""
        if self.adult is not None and values[self.adult]:
            return self.today if _flag(values[self.adult], "adult", problems) else NEVER
        problems.append(Problem("import.no_age"))
        return None

    def _category(self, values: list[str], problems: list[Problem]) -> Category | None:
        """The category of a row whose text is not already exact: empty means member."""
        text = values[self.category].lower() if self.category is not None else ""
        category = CATEGORIES.get(text or Category.MEMBER.value)
        if category is None:
            problems.append(Problem("import.bad_category", value=text))
        return category


_new_tuple = tuple.__new__


def _cards(value: str, problems: list[Problem]) -> tuple[str, ...]:
    """The cards in `value` (split on |) in normal form; each bad one adds its problem."""
    cards: list[str] = []
    bad = False
    for raw in value.split("|"):
        raw = raw.strip()
        if not raw:
            continue
        if raw.isascii() and raw.isdigit() and 8 <= len(raw) <= 14:
            cards.append(raw)  # already in normal form: the usual case, skip the regexes
            continue
        try:
            cards.append(normalise_card(raw))
        except CardFormatError:
            problems.append(Problem("import.bad_card", card=card_hint(raw)))
            bad = True
    if not cards and not bad:
        problems.append(Problem("import.no_card"))
    return tuple(cards)


def _block_note(text: str, blocked: bool, problems: list[Problem]) -> str | None:
    """The note on a row's entry block: one line of plain text (the API's rule), bounded, and
    only on a blocked row (a note is why a block was set; without one it explains nothing)."""
    if len(text) > BLOCK_NOTE_MAX_LENGTH:
        problems.append(Problem("import.text.too_long", column="block_note", maximum=BLOCK_NOTE_MAX_LENGTH))
    elif not text.isprintable() and (refused := _refused_character(text)):
        problems.append(
            Problem("import.text.refused", column="block_note", position=refused[0], code=refused[1])
        )
    elif not blocked:
        problems.append(Problem("import.block.note_without"))
    else:
        return text
    return None


def _refused_character(text: str) -> tuple[int, str] | None:
    """(position, "U+202E") of the first character controller/domain/text.py refuses, if any:
    the same rule as the API's names, said with values the pages can put in Dutch."""
    for position, char in enumerate(text, start=1):
        if text_problem(char):
            return position, f"U+{ord(char):04X}"
    return None


def _date(
    value: str,
    column: str,
    problems: list[Problem],
    required: bool = False,
    first: date = FIRST_DAY,
    last: date = LAST_DAY,
) -> date | None:
    """The date in `value` (YYYY-MM-DD or DD-MM-YYYY) if it lies in first..last."""
    if not value:
        if required:
            problems.append(Problem("import.empty_column", column=column))
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        try:
            day = _dutch_date(value)
        except ValueError:
            problems.append(Problem("import.bad_date", column=column, value=value))
            return None
    if not first <= day <= last:
        problems.append(
            Problem(
                "import.date_out_of_range",
                column=column,
                value=value,
                first=first.isoformat(),
                last=last.isoformat(),
            )
        )
        return None
    return day


def _dutch_date(value: str) -> date:
    day, month, year = value.replace("/", "-").split("-")
    if len(year) != 4:
        raise ValueError(value)
    return date(int(year), int(month), int(day))


def _flag(value: str, column: str, problems: list[Problem]) -> bool:
    value = value.lower()
    if value in YES:
        return True
    if value not in NO:
        problems.append(Problem("import.bad_flag", column=column, value=value))
    return False
