"""The pages' words in Dutch (the default) and English, chosen by a cookie the switch sets.

Messages that come from the core (schedule problems, import row reasons) are English
sentences written for admins; they are shown as they are in both languages.
"""
from __future__ import annotations

from fastapi import Request

from controller.domain.timeline import ModeCause
from controller.web.problems_nl import problem_in_dutch

LANG_COOKIE = "opd_lang"
LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"

# key -> (Dutch, English). Placeholders use str.format names.
STRINGS: dict[str, tuple[str, str]] = {
    # frame
    "app.name": ("Open+ deur", "Open+ door"),
    "nav.menu": ("Menu", "Menu"),
    "nav.today": ("Vandaag", "Today"),
    "nav.schedule": ("Rooster", "Schedule"),
    "nav.entries": ("Toegang", "Entries"),
    "nav.members": ("Leden", "Members"),
    "nav.users": ("Gebruikers", "Users"),
    "nav.signout": ("Afmelden", "Sign out"),
    "nav.signed_in_as": ("Aangemeld als {name}", "Signed in as {name}"),
    "lang.switch": ("English", "Nederlands"),
    "lang.switch_label": ("Switch to English", "Schakel naar Nederlands"),
    "skip": ("Naar de inhoud", "Skip to content"),
    # sign in
    "signin.title": ("Aanmelden", "Sign in"),
    "signin.username": ("Gebruikersnaam", "Username"),
    "signin.password": ("Wachtwoord", "Password"),
    "signin.submit": ("Aanmelden", "Sign in"),
    "signin.failed": ("Gebruikersnaam of wachtwoord onjuist.", "Wrong username or password."),
    "signin.signed_out": ("U bent afgemeld.", "You are signed out."),
    "signin.paused": ("Te veel onjuiste pogingen. Wacht {minutes} min. en probeer het opnieuw.",
                      "Too many wrong attempts. Wait {minutes} min. and try again."),
    # errors
    "error.forbidden.title": ("Geen toegang", "No access"),
    "error.forbidden.text": ("Deze pagina is voor de rol '{role}'. Vraag een beheerder als u "
                             "hem nodig hebt.",
                             "This page is for the '{role}' role. Ask an admin if you need it."),
    "error.csrf.title": ("Formulier verlopen", "Form expired"),
    "error.csrf.text": ("Het formulier was verlopen of kwam niet van deze site; er is niets "
                        "gewijzigd. Laad de pagina opnieuw en probeer het nog eens.",
                        "The form had expired or did not come from this site; nothing was "
                        "changed. Reload the page and try again."),
    "error.back": ("Naar Vandaag", "Back to Today"),
    "error.not_found": ("Niet gevonden.", "Not found."),
    "error.bad_form.title": ("Formulier niet goed ingevuld", "Form not filled in correctly"),
    "error.bad_form.text": ("Er ontbrak iets, of iets was te lang of ongeldig (veld: {fields}). "
                            "Er is niets gewijzigd. Ga terug en probeer het opnieuw.",
                            "Something was missing, too long or not valid (field: {fields}). "
                            "Nothing was changed. Go back and try again."),
    "error.http.title": ("Dat lukte niet", "That did not work"),
    "error.http.text": ("De server kon dit verzoek niet uitvoeren (code {status}). Er is niets "
                        "gewijzigd.", "The server could not do this (code {status}). Nothing "
                        "was changed."),
    "error.busy.title": ("Even geduld", "One moment"),
    "error.busy.text": ("Er worden nu te veel wachtwoorden tegelijk gecontroleerd. Er is niets "
                        "gewijzigd; probeer het over {seconds} seconden opnieuw.",
                        "Too many passwords are being checked right now. Nothing was changed; "
                        "try again in {seconds} seconds."),
    # modes and door
    "mode.staffed": ("Bemand", "Staffed"),
    "mode.openplus": ("Open+", "Open+"),
    "mode.closed": ("Gesloten", "Closed"),
    "mode.closure": ("Gesloten (sluitingsdag)", "Closed (closure day)"),
    "door.locked": ("Op slot", "Locked"),
    "door.unlocked": ("Ontgrendeld", "Unlocked"),
    "door.open": ("Open", "Open"),
    "door.alarm": ("Alarm", "Alarm"),
    "door.unavailable": ("Deur niet bereikbaar", "Door not reachable"),
    "event.access_granted": ("Toegang", "Granted"),
    "event.access_refused": ("Geweigerd", "Refused"),
    "event.door_forced": ("Deur geforceerd", "Door forced"),
    "event.door_held_open": ("Deur te lang open", "Door held open"),
    "event.door_opened": ("Deur open", "Door opened"),
    "event.door_closed": ("Deur dicht", "Door closed"),
    "event.exit_request": ("Uitgangsknop", "Exit button"),
    "event.remote_unlock": ("Op afstand ontgrendeld", "Remote unlock"),
    "event.mode_changed": ("Stand gewijzigd", "Mode changed"),
    "event.closing_warning": ("Sluitingswaarschuwing", "Closing warning"),
    "event.admin_change": ("Beheerwijziging", "Admin change"),
    "event.reader_fault": ("Lezerstoring", "Reader fault"),
    "event.camera_fault": ("Camerastoring", "Camera fault"),
    "event.sign_in_paused": ("Aanmelden gepauzeerd", "Sign-in paused"),
    "event.service": ("Dienst", "Service"),
    "event.alarm": ("Alarm: er wordt gegokt", "Alarm: guessing at the door"),
    # why a door decision came out as it did (Reason), for staff reading the entries
    "reason.granted": ("Toegelaten", "Granted"),
    "reason.unknown_card": ("Pas onbekend", "Card not known"),
    "reason.not_registered": ("Niet aangemeld voor Open+", "Not signed up for Open+"),
    "reason.under_18": ("Jonger dan 18", "Under 18"),
    "reason.blocked": ("Geblokkeerd", "Blocked"),
    "reason.expired": ("Pas verlopen", "Card expired"),
    "reason.wrong_pin": ("Pincode onjuist", "Wrong PIN"),
    "reason.card_locked": ("Pas op slot (te vaak foute pincode)", "Card locked (too many wrong PINs)"),
    "reason.outside_hours": ("Buiten Open+-tijd", "Outside Open+ hours"),
    "reason.branch_closed": ("Vestiging gesloten", "Branch closed"),
    "reason.reader_slowed": ("Lezers vertraagd (te veel weigeringen)", "Readers slowed (too many refusals)"),
    # why an alarm event was logged (AlarmReason)
    "reason.pin_lockouts_escalating": ("Pas opnieuw op slot: iemand blijft pincodes proberen",
                                       "Card locked again: someone keeps trying PINs"),
    "reason.card_cycling": ("Veel onbekende passen of foute pincodes: lezers vertraagd",
                            "Many unknown cards or wrong PINs: readers slowed"),
    "cause.weekly": ("gewone week", "ordinary week"),
    "cause.holiday": ("feestdag", "public holiday"),
    "cause.closure": ("sluiting", "closure"),
    "cause.special_hours": ("andere tijden", "special hours"),
    # today
    "today.title": ("Vandaag", "Today"),
    "today.mode": ("Stand nu", "Mode now"),
    "today.cause": ("Waarom", "Why"),
    "today.since": ("Sinds", "Since"),
    "today.next": ("Volgende wijziging", "Next change"),
    "today.next_none": ("Geen wijziging binnen 400 dagen", "No change within 400 days"),
    "today.door": ("Deur", "Door"),
    "today.door_message": ("Scherm bij de deur", "Door display"),
    "today.entries": ("Toegang vandaag", "Entries today"),
    "today.granted": ("Binnengelaten", "Granted"),
    "today.refused": ("Geweigerd", "Refused"),
    "today.alarms": ("Laatste alarmen", "Last alarms"),
    "today.no_alarms": ("Geen alarmen.", "No alarms."),
    "today.updated": ("Bijgewerkt {time}", "Updated {time}"),
    "today.auto": ("Deze pagina werkt zichzelf elke paar seconden bij.",
                   "This page updates itself every few seconds."),
    # schedule
    "schedule.title": ("Openingsrooster", "Opening schedule"),
    "schedule.weekly": ("Gewone week", "Ordinary week"),
    "schedule.weekly_help": ("Tijden in Nederlandse tijd, UU:MM; 24:00 is het eind van de dag. "
                             "Buiten de vensters is de vestiging dicht.",
                             "Local times, HH:MM; 24:00 is the end of the day. Outside the "
                             "windows the branch is closed."),
    "schedule.start": ("Begin", "Start"),
    "schedule.end": ("Eind", "End"),
    "schedule.kind": ("Soort", "Kind"),
    "schedule.kind.staffed": ("Bemand", "Staffed"),
    "schedule.kind.openplus": ("Open+", "Open+"),
    "schedule.add_row": ("Venster toevoegen", "Add window"),
    "schedule.remove_row": ("Verwijderen", "Remove"),
    "schedule.remove_row_label": ("Venster {n} van {day} verwijderen", "Remove window {n} of {day}"),
    "schedule.closed_all_day": ("Hele dag dicht.", "Closed all day."),
    "schedule.exceptions": ("Uitzonderingen", "Exceptions"),
    "schedule.exceptions_help": ("Een sluitingsdag, of andere tijden op één datum. Meer vensters "
                                 "op één datum: één regel per venster.",
                                 "A closure, or other hours on one date. Several windows on one "
                                 "date: one row per window."),
    "schedule.date": ("Datum", "Date"),
    "schedule.exception_kind": ("Uitzondering", "Exception"),
    "schedule.kind.closure": ("Sluiting", "Closure"),
    "schedule.kind.special_hours": ("Andere tijden", "Special hours"),
    "schedule.note": ("Notitie", "Note"),
    "schedule.add_exception": ("Uitzondering toevoegen", "Add exception"),
    "schedule.no_exceptions": ("Geen uitzonderingen.", "No exceptions."),
    "schedule.holidays": ("Feestdagen: hele dag dicht", "Public holidays: closed all day"),
    "schedule.save": ("Rooster opslaan", "Save schedule"),
    "schedule.saved": ("Rooster opgeslagen; de deur volgt het meteen.",
                       "Schedule saved; the door follows it at once."),
    "schedule.invalid": ("Het rooster is niet opgeslagen. Verbeter wat hieronder staat.",
                         "The schedule was not saved. Correct what is shown below."),
    "schedule.preview": ("De komende 14 dagen", "The next 14 days"),
    "schedule.preview_stored": ("(opgeslagen rooster)", "(stored schedule)"),
    "schedule.preview_none": ("Geen wijzigingen in deze periode.", "No changes in this period."),
    "schedule.when": ("Wanneer", "When"),
    "schedule.becomes": ("Wordt", "Becomes"),
    "schedule.updated_by": ("Laatst gewijzigd {time} door {who}", "Last changed {time} by {who}"),
    "weekday.monday": ("Maandag", "Monday"),
    "weekday.tuesday": ("Dinsdag", "Tuesday"),
    "weekday.wednesday": ("Woensdag", "Wednesday"),
    "weekday.thursday": ("Donderdag", "Thursday"),
    "weekday.friday": ("Vrijdag", "Friday"),
    "weekday.saturday": ("Zaterdag", "Saturday"),
    "weekday.sunday": ("Zondag", "Sunday"),
    # entries
    "entries.title": ("Toegang en gebeurtenissen", "Entries and events"),
    "entries.filters": ("Filters", "Filters"),
    "entries.from": ("Van (datum)", "From (date)"),
    "entries.to": ("Tot en met (datum)", "To (date, inclusive)"),
    "entries.member": ("Lid (patron-id)", "Member (patron id)"),
    "entries.result": ("Resultaat", "Result"),
    "entries.result.all": ("Alle gebeurtenissen", "All events"),
    "entries.result.granted": ("Binnengelaten", "Granted"),
    "entries.result.refused": ("Geweigerd", "Refused"),
    "entries.result.alarms": ("Alarmen", "Alarms"),
    "entries.reason": ("Reden", "Reason"),
    "entries.reason.any": ("Elke reden", "Any reason"),
    "entries.apply": ("Toon", "Show"),
    "entries.reset": ("Wis filters", "Clear filters"),
    "entries.export": ("Download als CSV", "Download as CSV"),
    "entries.time": ("Tijd", "Time"),
    "entries.type": ("Gebeurtenis", "Event"),
    "entries.card": ("Pas", "Card"),
    "entries.detail": ("Door / details", "By / details"),
    "entries.clip": ("Beeld", "Video"),
    "entries.watch": ("Bekijk beeld van gebeurtenis {id}", "Watch video of event {id}"),
    "entries.watch_short": ("Bekijk", "Watch"),
    "entries.none": ("Geen gebeurtenissen met deze filters.", "No events match these filters."),
    "entries.older": ("Oudere", "Older"),
    "entries.newest": ("Nieuwste", "Newest"),
    "entries.bad_date": ("Gebruik een datum als 2026-11-25.", "Use a date like 2026-11-25."),
    "entry.title": ("Gebeurtenis {id}", "Event {id}"),
    "entry.no_clip": ("Er is geen beeld van deze gebeurtenis (niet opgenomen of al verwijderd).",
                      "There is no video of this event (not recorded, or already deleted)."),
    "entry.clip_kind.clip": ("Eigen opname van de gebeurtenis", "The event's own clip"),
    "entry.clip_kind.segment": ("Doorlopende opname; start op het moment van de gebeurtenis",
                                "Continuous recording; starts at the moment of the event"),
    "entry.download": ("Download het bestand", "Download the file"),
    "entry.cannot_play": ("Deze browser kan dit videoformaat niet afspelen; download het bestand.",
                          "This browser cannot play this video format; download the file."),
    "entry.back": ("Terug naar de lijst", "Back to the list"),
    # members
    "members.title": ("Leden", "Members"),
    "members.search": ("Zoek op patron-id, naam of hele pasnummer",
                       "Search by patron id, name or whole card number"),
    "members.search_button": ("Zoek", "Search"),
    "members.on_list": ("{count} op de lijst", "{count} on the list"),
    "members.patron": ("Patron-id", "Patron id"),
    "members.name": ("Naam", "Name"),
    "members.cards": ("Passen", "Cards"),
    "members.valid_until": ("Geldig t/m", "Valid until"),
    "members.status": ("Status", "Status"),
    "members.actions": ("Acties", "Actions"),
    "members.ok": ("Mag naar binnen", "May enter"),
    "members.block": ("Blokkeer", "Block"),
    "members.unblock": ("Deblokkeer", "Unblock"),
    "members.block_label": ("Blokkeer {patron}", "Block {patron}"),
    "members.unblock_label": ("Deblokkeer {patron}", "Unblock {patron}"),
    "members.set_pin": ("Pincode", "PIN"),
    "members.set_pin_label": ("Nieuwe pincode voor {patron}", "New PIN for {patron}"),
    "members.none": ("Geen leden gevonden.", "No members found."),
    "members.next": ("Volgende", "Next"),
    "members.previous": ("Vorige", "Previous"),
    "members.blocked": ("{patron} is geblokkeerd.", "{patron} is blocked."),
    "members.blocked_until": ("{patron} is geblokkeerd tot en met {until}.",
                              "{patron} is blocked up to and including {until}."),
    "members.until_label": ("Geblokkeerd tot en met (leeg: tot deblokkeren) voor {patron}",
                            "Blocked up to and including (empty: until unblocked) for {patron}"),
    "members.until_help": ("Laatste geblokkeerde dag; leeg: tot u deblokkeert",
                           "Last blocked day; empty: until you unblock"),
    "members.until_short": ("t/m {until}", "until {until}"),
    "members.until_field": ("t/m", "until"),
    "members.until_bad": ("Niet geblokkeerd: 'tot en met' moet een echte datum zijn, als "
                          "JJJJ-MM-DD, tussen 1970 en 9998.",
                          "Not blocked: 'until' must be a real date, as YYYY-MM-DD, between "
                          "1970 and 9998."),
    "members.until_past": ("Niet geblokkeerd: 'tot en met' ligt in het verleden. Kies vandaag "
                           "({today}) of later.",
                           "Not blocked: 'until' is in the past. Choose today ({today}) or "
                           "later."),
    "members.unblocked": ("{patron} is gedeblokkeerd.", "{patron} is unblocked."),
    "members.pin_set": ("Nieuwe pincode voor {patron} opgeslagen.", "New PIN for {patron} saved."),
    "members.unknown": ("Dit lid staat niet op de lijst.", "This member is not on the list."),
    "status.blocked": ("geblokkeerd", "blocked"),
    "status.expired": ("verlopen", "expired"),
    "status.not_registered": ("niet aangemeld voor Open+", "not registered for Open+"),
    "status.under_18": ("jonger dan 18", "under 18"),
    "status.no_pin": ("geen pincode", "no PIN"),
    "status.pin_locked": ("pincode geblokkeerd", "PIN locked"),
    "status.staff": ("personeel", "staff"),
    "pin.title": ("Nieuwe pincode voor {patron}", "New PIN for {patron}"),
    "pin.help": ("4 tot 6 cijfers. De pincode wordt nergens getoond of gelogd.",
                 "4 to 6 digits. The PIN is never shown or logged."),
    "pin.pin": ("Nieuwe pincode", "New PIN"),
    "pin.again": ("Nieuwe pincode nogmaals", "New PIN again"),
    "pin.save": ("Pincode opslaan", "Save PIN"),
    "pin.mismatch": ("De twee pincodes zijn niet gelijk.", "The two PINs differ."),
    "pin.bad": ("Een pincode is 4 tot 6 cijfers.", "A PIN is 4 to 6 digits."),
    "import.title": ("Ledenlijst importeren", "Import the member list"),
    "import.help": ("Het CSV-bestand uit het bibliotheeksysteem. U ziet eerst wat er zou "
                    "veranderen; pas na bevestigen wordt de lijst vervangen.",
                    "The CSV export from the library system. You first see what would change; "
                    "the list is replaced only after you confirm."),
    "import.file": ("CSV-bestand", "CSV file"),
    "import.preview": ("Bekijk wat er verandert", "Preview the changes"),
    "import.preview_title": ("Voorbeeld van de import", "Import preview"),
    "import.no_file": ("Kies eerst een bestand.", "Choose a file first."),
    "import.rejected": ("Het bestand is afgewezen: {count} probleem/problemen. Er is niets "
                        "gewijzigd.",
                        "The file was rejected: {count} problem(s). Nothing was changed."),
    "import.first_listed": ("Alleen de eerste {listed} staan hieronder.",
                            "Only the first {listed} are listed below."),
    "import.line": ("Regel", "Line"),
    "import.problem": ("Probleem", "Problem"),
    "import.counts": ("Als u bevestigt:", "If you confirm:"),
    "import.added": ("Nieuw", "Added"),
    "import.updated": ("Gewijzigd", "Updated"),
    "import.unchanged": ("Ongewijzigd", "Unchanged"),
    "import.removed": ("Verwijderd", "Removed"),
    "import.confirm": ("Importeer nu", "Import now"),
    "import.cancel": ("Annuleren", "Cancel"),
    "import.done": ("De ledenlijst is vervangen.", "The member list was replaced."),
    "import.expired": ("Dit voorbeeld is verlopen; upload het bestand opnieuw.",
                       "This preview has expired; upload the file again."),
    "import.delete_hint": ("Verwijder het exportbestand na het importeren: het kan pincodes "
                           "bevatten.",
                           "Delete the export file after importing: it may hold PINs."),
    # users and tokens
    "users.title": ("Gebruikers", "Users"),
    "users.username": ("Gebruikersnaam", "Username"),
    "users.roles": ("Rollen", "Roles"),
    "users.state": ("Staat", "State"),
    "users.enabled": ("Actief", "Enabled"),
    "users.disabled": ("Uitgeschakeld", "Disabled"),
    "users.disable": ("Uitschakelen", "Disable"),
    "users.enable": ("Inschakelen", "Enable"),
    "users.save_roles": ("Rollen opslaan", "Save roles"),
    "users.roles_of": ("Rollen van {name}", "Roles of {name}"),
    "users.reset": ("Wachtwoord opnieuw instellen", "Reset password"),
    "users.reset_of": ("Nieuw wachtwoord voor {name}", "New password for {name}"),
    "users.password": ("Wachtwoord (minstens 10 tekens)", "Password (at least 10 characters)"),
    "users.password_again": ("Wachtwoord nogmaals", "Password again"),
    "users.password_mismatch": ("De twee wachtwoorden zijn niet gelijk.",
                                "The two passwords differ."),
    "users.add": ("Gebruiker toevoegen", "Add a user"),
    "users.add_button": ("Toevoegen", "Add"),
    "users.done.added": ("Gebruiker toegevoegd.", "User added."),
    "users.done.roles": ("Rollen opgeslagen.", "Roles saved."),
    "users.done.password": ("Wachtwoord opnieuw ingesteld; de gebruiker is overal afgemeld.",
                            "Password reset; the user was signed out everywhere."),
    "users.done.disabled": ("Gebruiker uitgeschakeld.", "User disabled."),
    "users.done.enabled": ("Gebruiker ingeschakeld.", "User enabled."),
    "users.done.revoked": ("Token ingetrokken.", "Token revoked."),
    "role.manager": ("beheerder rooster en leden (manager)", "manager (schedule, members)"),
    "role.security": ("beveiliging (security)", "security (entries, door, video)"),
    "role.admin": ("admin (alles)", "admin (everything)"),
    "tokens.title": ("API-tokens", "API tokens"),
    "tokens.id": ("Nr.", "No."),
    "tokens.label": ("Omschrijving", "Label"),
    "tokens.user": ("Gebruiker", "User"),
    "tokens.created": ("Gemaakt", "Created"),
    "tokens.expires": ("Verloopt", "Expires"),
    "tokens.last_used": ("Laatst gebruikt", "Last used"),
    "tokens.never": ("nooit", "never"),
    "tokens.revoke": ("Intrekken", "Revoke"),
    "tokens.revoke_label": ("Token {id} intrekken", "Revoke token {id}"),
    "tokens.none": ("Geen tokens.", "No tokens."),
    "tokens.create": ("Token maken", "Create a token"),
    "tokens.days": ("Geldig (dagen; leeg = altijd)", "Valid for (days; empty = forever)"),
    "tokens.created_title": ("Nieuw token", "New token"),
    "tokens.shown_once": ("Kopieer het token nu: het wordt maar één keer getoond en alleen als "
                          "hash bewaard.",
                          "Copy the token now: it is shown this once and stored only as a hash."),
    "tokens.back": ("Terug naar gebruikers", "Back to users"),
    "tokens.bad_days": ("Geef 1 tot 3650 dagen, of laat het leeg.",
                        "Give 1 to 3650 days, or leave it empty."),
    # shared
    "form.errors": ("Niet gelukt:", "Not done:"),
    "common.yes": ("ja", "yes"),
    "common.no": ("nee", "no"),
}


def language_of(request: Request) -> str:
    """The language the viewer chose with the switch, else Dutch."""
    chosen = request.cookies.get(LANG_COOKIE, DEFAULT_LANGUAGE)
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


class Translator:
    """`t("key", name=...)` in one language; an unknown key shows itself (and a test finds it)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        self._index = LANGUAGES.index(self.lang)

    def __call__(self, key: str, **values: object) -> str:
        pair = STRINGS.get(key)
        if pair is None:
            return key
        text = pair[self._index]
        return text.format(**values) if values else text

    def problem(self, problem: str) -> str:
        """A problem from the core (controller/domain/problems.py) in this language."""
        return problem_in_dutch(problem) if self.lang == "nl" else str(problem)

    def reason(self, reason: str | None) -> str:
        """A decision reason code in this language; other reasons (audit notes) as they are."""
        key = f"reason.{reason}"
        return self(key) if key in STRINGS else (reason or "")

    def has(self, key: str) -> bool:
        return key in STRINGS

    def cause(self, cause: ModeCause) -> str:
        """A schedule cause in this language: its kind, then which holiday or the note."""
        kind = self(f"cause.{cause.kind.value}")
        detail = cause.holiday.name(self.lang) if cause.holiday is not None else cause.note
        return f"{kind}: {detail}" if detail else kind
