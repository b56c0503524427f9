"""A problem found in uploaded data (a member-list row, a schedule), kept as a key and values.

Decision: a Problem *is* its English sentence (a str subclass), so the API, the CLI and the
logs use it as text unchanged, while the pages say it in their language (`said`). The words
are in the string catalog under `problem.<key>` (controller/domain/strings/*.toml). Its
`place` (a Place: where in the document) is a typed value every problem may have; it is
named in front of the sentence, and code that needs to know where a problem belongs reads
the place, never the sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from controller.domain.catalog import has, render

# The language whose problem text is the API's: places named as the schema names them
# ("weekly.monday.0.start"), so a client can find the field; other languages say them in words.
API_LANGUAGE = "en"


@dataclass(frozen=True)
class Place:
    """Where in a document a problem is.

    `path` is the position as pydantic names it (field names and list indexes, e.g.
    ("weekly", "monday", 0, "start") or ("exceptions", 2)): what code reads to put a problem
    in its spot. `name`, when set, is how a person is told instead of the dotted path: a
    weekday ("monday") or an exception's date ("2026-12-24") says more than its index.
    """

    path: tuple[str | int, ...]
    name: str = ""

    def __str__(self) -> str:
        return self.name or ".".join(str(part) for part in self.path)


class Problem(str):
    """One problem: the English sentence, plus `key`, `values` and `place` to say it in
    another language."""

    key: str
    values: dict[str, str]
    place: Place | None

    def __new__(cls, key: str, /, place: Place | None = None, **values: object) -> Problem:
        texts = {name: str(value) for name, value in values.items()}
        sentence = _sentence(key, texts, API_LANGUAGE)
        where = str(place) if place is not None else ""
        self = super().__new__(cls, f"{where}: {sentence}" if where else sentence)
        self.key, self.values, self.place = key, texts, place
        return self

    def at(self, place: Place) -> Problem:
        """The same problem, placed (a validator knows the value, the caller where it was)."""
        return Problem(self.key, place, **self.values)

    def said(self, lang: str) -> str:
        """This problem in `lang`: in the API's language the problem itself, in another the
        catalog's sentence with its place in words ("Maandag, venster 1, begintijd: ...")."""
        if lang == API_LANGUAGE:
            return str(self)
        sentence = _sentence(self.key, self.values, lang)
        where = place_said(self.place, lang) if self.place is not None else ""
        return f"{where}: {sentence}" if where else sentence


def _sentence(key: str, values: dict[str, str], lang: str) -> str:
    """The catalog's `problem.<key>` in `lang`, a window's kind ({kind}, {other_kind}) in words."""
    said = {
        name: render(f"problem.kind.{value}", lang)
        if name.endswith("kind") and has(f"problem.kind.{value}", lang)
        else value
        for name, value in values.items()
    }
    return render(f"problem.{key}", lang, **said)


def place_said(place: Place, lang: str) -> str:
    """A place in words, capitalised as the start of a sentence: a named place by its name
    (a weekday in words, a date as it is), else its path, e.g. in Dutch
    ("weekly", "monday", 0, "start") -> "Maandag, venster 1, begintijd" and
    ("exceptions", 2, "windows", 0, "end") -> "Uitzondering 3, venster 1, eindtijd"."""
    if place.name:
        words = [_word("day", place.name, lang)]
    else:
        words = []
        after_day = False
        for part in place.path:
            is_day = isinstance(part, str) and has(f"problem.place.day.{part}", lang)
            if isinstance(part, int) and after_day:  # a weekday's list of windows
                words.append(render("problem.place.window", lang, number=part + 1))
            elif isinstance(part, int) and words:
                words[-1] = f"{words[-1]} {part + 1}"
            elif is_day:
                words.append(_word("day", str(part), lang))
            elif part != "weekly":  # the weekday after it says enough
                words.append(_word("field", str(part), lang))
            after_day = is_day
    placed = ", ".join(words)
    return placed[:1].upper() + placed[1:]


def _word(kind: str, name: str, lang: str) -> str:
    """`problem.place.<kind>.<name>` in `lang`, or the name itself (a date, an unknown field)."""
    key = f"problem.place.{kind}.{name}"
    return render(key, lang) if has(key, lang) else name


class ProblemError(ValueError):
    """A ValueError that carries a Problem through pydantic validation."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


MAX_PROBLEMS_NAMED = 50
_Said = TypeVar("_Said", bound=str)  # a Problem, or another text (a library's own message)


def first_problems(problems: list[_Said], limit: int = MAX_PROBLEMS_NAMED) -> list[_Said | Problem]:
    """The first `limit` problems, then one saying how many more: a refusal stays readable
    and small however much was wrong (a crafted request once drew a 260 MB answer)."""
    if len(problems) <= limit:
        return [*problems]
    return [*problems[:limit], Problem("more_problems", count=len(problems) - limit)]
