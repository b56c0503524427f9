"""Door contact and REX button through mock pins (callbacks run synchronously on drive_*)."""

from __future__ import annotations

import pytest

from drivers.inputs import DoorContact, RexButton

CONTACT, REX = 17, 18


class Recorder:
    """Collects callback names in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def make(self, name: str):
        return lambda: self.calls.append(name)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def make_contact(factory, recorder: Recorder, **kwargs) -> DoorContact:
    return DoorContact(
        CONTACT,
        on_opened=recorder.make("opened"),
        on_closed=recorder.make("closed"),
        pin_factory=factory,
        **kwargs,
    )


def test_nc_contact_to_ground_reads_open_when_high(mock_factory, recorder) -> None:
    contact = make_contact(mock_factory, recorder)
    pin = mock_factory.pin(CONTACT)
    try:
        assert pin.pull == "up"
        assert contact.is_open  # nothing connected: pull-up -> high -> open (a cut wire too)
        pin.drive_low()  # door closes the contact
        assert not contact.is_open
        pin.drive_high()  # door opens
        assert contact.is_open
        pin.drive_low()
        assert recorder.calls == ["closed", "opened", "closed"]
    finally:
        contact.close()


def test_contact_reading_open_when_low(mock_factory, recorder) -> None:
    contact = make_contact(mock_factory, recorder, open_when_high=False)
    pin = mock_factory.pin(CONTACT)
    try:
        assert not contact.is_open
        pin.drive_low()
        assert contact.is_open
        pin.drive_high()
        assert not contact.is_open
        assert recorder.calls == ["opened", "closed"]
    finally:
        contact.close()


def test_contact_without_callbacks_still_reports_state(mock_factory) -> None:
    contact = DoorContact(CONTACT, pin_factory=mock_factory)
    try:
        mock_factory.pin(CONTACT).drive_low()
        assert not contact.is_open
    finally:
        contact.close()


def test_callbacks_can_be_set_after_construction(mock_factory, recorder) -> None:
    contact = DoorContact(CONTACT, pin_factory=mock_factory)
    try:
        contact.on_opened = recorder.make("opened")
        mock_factory.pin(CONTACT).drive_low()
        mock_factory.pin(CONTACT).drive_high()
        assert recorder.calls == ["opened"]
    finally:
        contact.close()


def test_rex_press_calls_back_once_per_press(mock_factory, recorder) -> None:
    rex = RexButton(REX, on_pressed=recorder.make("rex"), pin_factory=mock_factory)
    pin = mock_factory.pin(REX)
    try:
        assert not rex.is_pressed
        pin.drive_low()
        assert rex.is_pressed
        pin.drive_low()  # still held: no second call
        pin.drive_high()
        assert not rex.is_pressed
        assert recorder.calls == ["rex"]
        pin.drive_low()
        pin.drive_high()
        assert recorder.calls == ["rex", "rex"]
    finally:
        rex.close()


def test_closed_inputs_stop_calling_back(mock_factory, recorder) -> None:
    contact = make_contact(mock_factory, recorder)
    rex = RexButton(REX, on_pressed=recorder.make("rex"), pin_factory=mock_factory)
    contact.close()
    rex.close()
    mock_factory.pin(CONTACT).drive_low()
    mock_factory.pin(REX).drive_low()
    assert recorder.calls == []
