"""The pages' language: chosen by a cookie the switch sets, Dutch by default; the words come
from the string catalog (controller/domain/catalog.py, strings/nl.toml and en.toml).

Problems from the core (schedule problems, import row reasons) are translated by `t.problem`.
"""

from __future__ import annotations

from fastapi import Request

from controller.domain import catalog
from controller.domain.catalog import DEFAULT_LANGUAGE, LANGUAGES
from controller.domain.problems import Problem
from controller.domain.timeline import ModeCause

__all__ = ["DEFAULT_LANGUAGE", "LANG_COOKIE", "LANGUAGES", "Translator", "language_of"]

LANG_COOKIE = "opd_lang"


def language_of(request: Request) -> str:
    """The language the viewer chose with the switch, else Dutch."""
    return catalog.known_language(request.cookies.get(LANG_COOKIE))


class Translator:
    """`t("key", name=...)` in one language, for the templates.

    An unknown key raises catalog.MissingText naming it; tests/test_catalog.py checks that every
    key the templates use exists, so a page never shows a raw key.
    """

    def __init__(self, lang: str) -> None:
        self.lang = catalog.known_language(lang)

    def __call__(self, key: str, **values: object) -> str:
        return catalog.render(key, self.lang, **values)

    def problem(self, problem: str) -> str:
        """A problem from the core (controller/domain/problems.py) in this language; any other
        text (a library's own message) as it is."""
        return problem.said(self.lang) if isinstance(problem, Problem) else str(problem)

    def reason(self, reason: str | None) -> str:
        """A decision reason code in this language; other reasons (audit notes) as they are."""
        key = f"reason.{reason}"
        return self(key) if self.has(key) else (reason or "")

    def has(self, key: str) -> bool:
        """Whether the catalog has `key` (for keys built from a value, like `event.*`)."""
        return catalog.has(key, self.lang)

    def cause(self, cause: ModeCause) -> str:
        """A schedule cause in this language: its kind, then which holiday or the note."""
        kind = self(f"cause.{cause.kind.value}")
        detail = cause.holiday.name(self.lang) if cause.holiday is not None else cause.note
        return f"{kind}: {detail}" if detail else kind
