"""Short plain-language door messages, Dutch first: many members read little or are older."""
from __future__ import annotations

from dataclasses import dataclass

from controller.domain.decision import Reason


@dataclass(frozen=True)
class DoorMessage:
    nl: str
    en: str

    def __str__(self) -> str:
        return f"{self.nl} / {self.en}"


DOOR_MESSAGES: dict[Reason, DoorMessage] = {
    Reason.GRANTED: DoorMessage("Welkom", "Welcome"),
    Reason.UNKNOWN_CARD: DoorMessage("Pas onbekend", "Card not known"),
    Reason.NOT_REGISTERED: DoorMessage(
        "Pas niet aangemeld voor Open+. Vraag de bibliotheek", "Card not signed up for Open+"
    ),
    Reason.UNDER_18: DoorMessage("Alleen voor 18 jaar en ouder", "Only for age 18 and over"),
    Reason.BLOCKED: DoorMessage("Geen toegang. Vraag de bibliotheek", "No entry. Ask the library"),
    Reason.EXPIRED: DoorMessage("Pas verlopen. Vraag de bibliotheek", "Card expired. Ask the library"),
    Reason.WRONG_PIN: DoorMessage("Pincode onjuist, probeer opnieuw", "Wrong PIN, try again"),
    Reason.CARD_LOCKED: DoorMessage(
        "Te vaak foute pincode. Probeer het later", "Too many wrong PINs. Try again later"
    ),
    Reason.OUTSIDE_HOURS: DoorMessage("Nu geen Open+ tijd", "Not Open+ hours now"),
    Reason.BRANCH_CLOSED: DoorMessage("Bibliotheek vandaag gesloten", "Library closed today"),
    Reason.READER_SLOWED: DoorMessage("Even wachten a.u.b.", "Please wait a moment"),
}

PROMPT_PIN = DoorMessage("Toets uw pincode en #", "Enter your PIN and #")
PROMPT_CARD = DoorMessage("Houd uw pas voor de lezer", "Hold your card to the reader")


def door_message(reason: Reason) -> DoorMessage:
    return DOOR_MESSAGES[reason]


def closing_message(minutes: int) -> DoorMessage:
    return DoorMessage(f"De bibliotheek sluit over {minutes} minuten",
                       f"The library closes in {minutes} minutes")
