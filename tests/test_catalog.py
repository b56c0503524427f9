"""The string catalog: both languages complete and alike, and every key the code uses is there."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from controller.domain import catalog
from controller.domain.catalog import LANGUAGES, MissingText, load_language, placeholders, render

REPO = Path(__file__).resolve().parents[1]


def test_every_key_has_both_languages() -> None:
    dutch, english = (set(catalog.texts(lang)) for lang in LANGUAGES)
    assert sorted(dutch - english) == [] and sorted(english - dutch) == []
    assert len(dutch) > 100, "the catalog looks empty: did the TOML files load?"


def test_no_text_is_blank() -> None:
    assert [
        (lang, key) for lang in LANGUAGES for key, text in catalog.texts(lang).items() if not text.strip()
    ] == []


def test_both_languages_have_the_same_placeholders() -> None:
    dutch, english = (catalog.texts(lang) for lang in LANGUAGES)
    differ = {
        key: (sorted(placeholders(dutch[key])), sorted(placeholders(english[key])))
        for key in dutch.keys() & english.keys()
        if placeholders(dutch[key]) != placeholders(english[key])
    }
    assert differ == {}


def test_placeholders_are_named() -> None:
    """`{}` or `{0}` would need positional values, which render() does not take."""
    positional = [
        (lang, key)
        for lang in LANGUAGES
        for key, text in catalog.texts(lang).items()
        if any(name.isdigit() for name in placeholders(text)) or "{}" in text
    ]
    assert positional == []


def test_render_fills_placeholders_and_defaults_to_dutch() -> None:
    assert render("members.blocked", patron="P-1") == "P-1 is geblokkeerd."
    assert render("members.blocked", "en", patron="P-1") == "P-1 is blocked."
    assert render("nav.today", "en") == "Today"


def test_a_missing_key_names_the_key_and_language() -> None:
    with pytest.raises(MissingText, match=r"'no\.such\.key' in 'en'"):
        render("no.such.key", "en")


def test_a_missing_placeholder_names_the_key_and_placeholder() -> None:
    with pytest.raises(MissingText, match=r"'members\.blocked'.*'patron'"):
        render("members.blocked")


def test_an_unknown_language_is_a_clear_error_and_known_language_falls_back_to_dutch() -> None:
    with pytest.raises(MissingText, match="'de'"):
        render("nav.today", "de")
    assert catalog.known_language("de") == "nl" and catalog.known_language(None) == "nl"
    assert catalog.known_language("en") == "en"


def test_nested_tables_give_dotted_keys_and_non_text_is_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('top = "a"\n[error]\nforbidden.title = "b"\n[error.csrf]\ntext = "c"\n')
    assert dict(load_language(good)) == {"top": "a", "error.forbidden.title": "b", "error.csrf.text": "c"}
    bad = tmp_path / "bad.toml"
    bad.write_text("[members]\ncount = 3\n")
    with pytest.raises(ValueError, match=r"members\.count must be text"):
        load_language(bad)


def test_the_language_files_ship_with_the_package() -> None:
    """The wheel takes package data from pyproject.toml; the TOML files must match its glob."""
    import tomllib

    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    globs = data["tool"]["setuptools"]["package-data"]["controller"]
    controller = REPO / "controller"
    shipped = {path for pattern in globs for path in controller.glob(pattern)}
    assert {catalog.STRINGS_DIR / f"{lang}.toml" for lang in LANGUAGES} <= shipped


def test_door_messages_come_from_the_catalog_with_their_words_unchanged() -> None:
    from controller.domain.decision import Reason
    from controller.domain.messages import PROMPT_PIN, DoorMessage, closing_message, door_message

    assert door_message(Reason.GRANTED) == DoorMessage("Welkom", "Welcome")
    assert PROMPT_PIN == DoorMessage("Toets uw pincode en #", "Enter your PIN and #")
    assert closing_message(5) == DoorMessage(
        "De bibliotheek sluit over 5 minuten", "The library closes in 5 minutes"
    )
    assert all(door_message(reason).nl and door_message(reason).en for reason in Reason)


# --- the keys the code and templates use ---------------------------------------------------------
CONTROLLER = REPO / "controller"
TEMPLATES = CONTROLLER / "web" / "templates"
KEY = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+")
PREFIX = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*\.")
# The pages pass keys around as strings ("pin.bad"); elsewhere codes such as "import.empty" (a
# problem's key, said as problem.import.empty) or "door.sock" look like keys but are not.
PAGES = CONTROLLER / "web"


def _sections() -> set[str]:
    return {key.split(".")[0] for key in catalog.texts("nl")}


def _python_strings(path: Path) -> tuple[set[str], set[str]]:
    """A module's plain string constants, and the literal starts of its f-strings ("mode.")."""
    tree = ast.parse(path.read_text(), str(path))
    joined = [node for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)]
    parts = {id(part) for node in joined for part in node.values}
    plain = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in parts
    }
    starts = {
        node.values[0].value
        for node in joined
        if node.values and isinstance(node.values[0], ast.Constant) and isinstance(node.values[0].value, str)
    }
    return plain, starts


def _template_strings() -> tuple[set[str], set[str], set[str]]:
    """Keys in t("...") calls, every quoted string, and the prefixes of keys built with `~`."""
    called, quoted, prefixes = set(), set(), set()
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        called |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']\s*[,)]""", text))
        quoted |= set(re.findall(r"""["']([a-z0-9_.]+)["']""", text))
        prefixes |= set(re.findall(r"""["']([a-z0-9_.]+\.)["']\s*~""", text))
    return called, quoted, prefixes


def _code_strings(root: Path = CONTROLLER) -> tuple[set[str], set[str]]:
    plain: set[str] = set()
    starts: set[str] = set()
    for path in root.rglob("*.py"):
        strings, f_starts = _python_strings(path)
        plain |= strings
        starts |= f_starts
    return plain, starts


def test_every_key_a_template_calls_exists() -> None:
    called, _, prefixes = _template_strings()
    assert len(called) > 100, "no t(...) calls found: the pattern is wrong"
    assert sorted(called - set(catalog.texts("nl"))) == []
    assert sorted(p for p in prefixes if not any(k.startswith(p) for k in catalog.texts("nl"))) == []


def test_every_key_the_python_code_names_exists() -> None:
    """In the pages' code a string shaped like a key of one of the catalog's sections (they pass
    keys such as "pin.bad" around before a template renders them) must be in the catalog, and so
    must the start of every key built with an f-string anywhere in controller/."""
    plain, _ = _code_strings(PAGES)
    _, starts = _code_strings()
    sections, keys = _sections(), set(catalog.texts("nl"))
    named = {
        s
        for s in plain
        if KEY.fullmatch(s)
        and s.split(".")[0] in sections
        and s.rsplit(".", 1)[1] not in {"html", "csv", "toml", "py"}
    }
    assert len(named) > 20, "no keys found in the code: the scan is wrong"
    assert sorted(named - keys) == []
    built = {s for s in starts if PREFIX.fullmatch(s) and s.split(".")[0] in sections}
    assert {"mode.", "reason.", "holiday.", "display."} <= built, "the f-string scan is wrong"
    assert sorted(p for p in built if not any(k.startswith(p) for k in keys)) == []


def _families() -> dict[str, set[str]]:
    """Keys built from a value at run time: prefix -> every value the code can put after it."""
    from controller.domain.decision import Reason
    from controller.domain.events import AlarmReason, EventType, LmsLinkReason
    from controller.domain.holidays import HOLIDAY_KEYS
    from controller.domain.members import MemberStatus
    from controller.domain.modes import DoorMode
    from controller.domain.schedule import WEEKDAYS
    from controller.services.users import Role
    from controller.web.routers import members, users
    from controller.web.routers.entries import RESULT_TYPES

    return {
        "reason.": (
            {r.value for r in Reason} | {r.value for r in AlarmReason} | {r.value for r in LmsLinkReason}
        ),
        "display.": {r.value for r in Reason},
        "event.": {e.value for e in EventType},
        "mode.": {m.value for m in DoorMode},
        "door.": {"locked", "unlocked", "open", "alarm", "unavailable"},  # web/routers/today.py
        "weekday.": set(WEEKDAYS),
        "status.": {s.name.lower() for s in MemberStatus} | {"staff"},
        "role.": {r.value for r in Role},
        "holiday.": set(HOLIDAY_KEYS),
        "cause.": {"weekly", "holiday", "closure", "special_hours"},
        "members.": set(members.DONE),
        "users.done.": set(users.DONE),
        "entries.result.": set(RESULT_TYPES) | {"all"},
        "entry.clip_kind.": {"clip", "segment"},  # services/footage.py FootageLocation.kind
        "problem.place.day.": set(WEEKDAYS),
    }


def _partial_families() -> dict[str, set[str]]:
    """Keys built from a value where the code falls back to the value itself when there is no
    key: a field of the schedule document named in a problem's place (domain/problems.py)."""
    from controller.domain.schedule import DateException, Schedule, Window

    fields = set(Window.model_fields) | set(DateException.model_fields) | set(Schedule.model_fields)
    return {"problem.place.field.": fields}


def test_every_key_built_from_a_value_exists() -> None:
    keys = set(catalog.texts("nl"))
    missing = sorted(
        f"{prefix}{value}"
        for prefix, values in _families().items()
        for value in values
        if f"{prefix}{value}" not in keys
    )
    assert missing == []


# Keys no scan can see as used, each with why it stays.
UNUSED_ALLOWED: dict[str, str] = {}


def test_no_key_is_unused() -> None:
    """A key is used when the code or a template spells it, when it is in a family above, or
    when an f-string builds it from a value the code spells (f"problem.{key}" with a Problem
    made as Problem("schedule.overlap", ...))."""
    plain, starts = _code_strings()
    _, quoted, _ = _template_strings()
    families = {
        f"{prefix}{value}"
        for prefix, values in (_families() | _partial_families()).items()
        for value in values
    }
    built = {f"{start}{value}" for start in starts if PREFIX.fullmatch(start) for value in plain}
    unused = sorted(
        key
        for key in catalog.texts("nl")
        if key not in plain | quoted | families | built and key not in UNUSED_ALLOWED
    )
    assert unused == []
