"""Every text a person reads, in Dutch (the default) and English, looked up by a stable key.

The words live in data files beside this module, `strings/nl.toml` and `strings/en.toml`, so a
translator edits text without reading code and a test (tests/test_catalog.py) can check that
every key has both languages with the same `{placeholders}`. Nested TOML tables give dotted
keys: `[members]` with `blocked = "..."` is the key `members.blocked`.

Both files are read once, when this module is imported, so the door thread never touches the
disk for a message. A key that is missing, or a placeholder not given, raises `MissingText`
naming the key and the language: a page or door message never shows a silent gap.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

LANGUAGES: Final = ("nl", "en")
DEFAULT_LANGUAGE: Final = "nl"
STRINGS_DIR: Final = Path(__file__).with_name("strings")


class MissingText(LookupError):
    """A key the catalog does not have in a language, or a placeholder the caller did not give."""


def _flatten(table: Mapping[str, Any], prefix: str, into: dict[str, str], source: Path) -> None:
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            _flatten(value, f"{key}.", into, source)
        elif isinstance(value, str):
            into[key] = value
        else:
            raise ValueError(f"{source}: {key} must be text, not {type(value).__name__}")


def load_language(path: Path) -> Mapping[str, str]:
    """One language file as key -> text, dotted keys for nested tables."""
    with path.open("rb") as file:
        table = tomllib.load(file)
    texts: dict[str, str] = {}
    _flatten(table, "", texts, path)
    return MappingProxyType(texts)


_TEXTS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {lang: load_language(STRINGS_DIR / f"{lang}.toml") for lang in LANGUAGES}
)


def known_language(lang: str | None) -> str:
    """`lang` when the catalog has it, else Dutch: a stray cookie or header never breaks a page."""
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def texts(lang: str) -> Mapping[str, str]:
    """All texts of one language, key -> unformatted text (for tests and listings)."""
    if lang not in _TEXTS:
        raise MissingText(f"no language {lang!r} in the catalog (have: {', '.join(LANGUAGES)})")
    return _TEXTS[lang]


def has(key: str, lang: str = DEFAULT_LANGUAGE) -> bool:
    """Whether the catalog has `key` in `lang` (for keys built from a value, like `reason.*`)."""
    return key in texts(lang)


def placeholders(text: str) -> frozenset[str]:
    """The `{names}` a text expects, e.g. {"patron", "until"}."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)


def render(key: str, lang: str = DEFAULT_LANGUAGE, /, **values: object) -> str:
    """The text of `key` in `lang` with its `{placeholders}` filled from `values`.

    Raises MissingText naming the key when the catalog lacks it or a placeholder is not given.
    """
    try:
        text = texts(lang)[key]
    except KeyError:
        raise MissingText(f"no text {key!r} in {lang!r} (controller/domain/strings/{lang}.toml)") from None
    try:
        return text.format(**values)
    except KeyError as missing:
        raise MissingText(f"text {key!r} in {lang!r} needs the placeholder {missing.args[0]!r}") from None
