"""The string catalog: both languages complete and alike, and every key the code uses is there."""
from __future__ import annotations

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
    assert [(lang, key) for lang in LANGUAGES for key, text in catalog.texts(lang).items()
            if not text.strip()] == []


def test_both_languages_have_the_same_placeholders() -> None:
    dutch, english = (catalog.texts(lang) for lang in LANGUAGES)
    differ = {key: (sorted(placeholders(dutch[key])), sorted(placeholders(english[key])))
              for key in dutch.keys() & english.keys()
              if placeholders(dutch[key]) != placeholders(english[key])}
    assert differ == {}


def test_placeholders_are_named() -> None:
    """`{}` or `{0}` would need positional values, which render() does not take."""
    positional = [(lang, key) for lang in LANGUAGES for key, text in catalog.texts(lang).items()
                  if any(name.isdigit() for name in placeholders(text)) or "{}" in text]
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
    assert dict(load_language(good)) == {"top": "a", "error.forbidden.title": "b",
                                         "error.csrf.text": "c"}
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
    assert closing_message(5) == DoorMessage("De bibliotheek sluit over 5 minuten",
                                             "The library closes in 5 minutes")
    assert all(door_message(reason).nl and door_message(reason).en for reason in Reason)
