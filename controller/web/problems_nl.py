"""Problems (controller/domain/problems.py) in Dutch, for the pages: same keys, same placeholders.

Column names stay as they are in the CSV file (a manager looks for them there); weekdays,
window kinds and field paths such as `weekly.monday.0.start` are said in Dutch.
"""
from __future__ import annotations

from controller.domain.problems import Place, Problem
from controller.domain.schedule import WEEKDAYS

DUTCH: dict[str, str] = {
    # member list (CSV)
    "import.empty": "het bestand is leeg: de eerste regel moet de kolomnamen bevatten",
    "import.unreadable_header": "de eerste regel (de kolomnamen) is onleesbaar ({error})",
    "import.not_utf8": "geen UTF-8-tekst: sla de export op als CSV UTF-8",
    "import.missing_column": "kolom '{column}' ontbreekt",
    "import.missing_age_column": "kolom 'birth_date' of 'adult' ontbreekt",
    "import.unknown_column": "onbekende kolom '{column}' (bekend: {known})",
    "import.column_twice": "kolom '{column}' staat er twee keer in",
    "import.broken_quoting": "de aanhalingstekens kloppen niet ({error})",
    "import.field_count": "{expected} velden verwacht, {found} gevonden",
    "import.duplicate_patron": "patron_id {patron_id} staat er twee keer in (ook op regel {line})",
    "import.duplicate_card": "pas {card} staat er twee keer in (ook op regel {line})",
    "import.no_patron_id": "patron_id is leeg",
    "import.bad_patron_id": "patron_id mag hoogstens 64 tekens hebben, zonder spaties, "
                            "stuurtekens of onzichtbare tekens",
    "import.no_name": "de naam is leeg (initialen zijn genoeg)",
    "import.bad_name": "naam: teken {position} ({code}) is een stuurteken of onzichtbaar teken, "
                       "dat mag niet",
    "import.bad_card": "pas {card}: onbekend pasnummer: verwacht 8 tot 14 cijfers (Wiegand 26: 8, "
                       "EM4100/Wiegand 34: 10, bibliotheekbarcode: 14)",
    "import.no_card": "geen pasnummer",
    "import.empty_column": "{column} is leeg",
    "import.bad_date": "{column} '{value}' is geen datum (gebruik JJJJ-MM-DD of DD-MM-JJJJ)",
    "import.bad_flag": "{column} moet ja of nee zijn (ja/nee, 1/0), niet '{value}'",
    "import.bad_category": "category moet 'member' of 'staff' zijn, niet '{value}'",
    "import.bad_pin": "de pincode moet 4 tot 6 cijfers zijn",
    "import.no_age": "birth_date en adult zijn allebei leeg",
    "import.date_out_of_range": "{column} '{value}' ligt niet tussen {first} en {last}",
    "import.staff_card": "deze pas hoort al bij medewerker {patron_id}",
    # any list of problems
    "more_problems": "en nog {count} problemen",
    # schedule
    "schedule.bad_time": "tijd '{value}' klopt niet: gebruik UU:MM van 00:00 tot 23:59, of 24:00 "
                         "als eindtijd",
    "schedule.midnight_start": "24:00 kan alleen een eindtijd zijn",
    "schedule.start_not_before_end": "{start}-{end} {kind}: het begin ligt niet vóór het einde",
    "schedule.overlap": "{start}-{end} {kind} overlapt met {other_start}-{other_end} {other_kind}",
    "schedule.two_exceptions": "meer dan één uitzondering op deze datum",
    "schedule.closure_with_windows": "een sluiting heeft geen tijden (kies 'Andere tijden')",
    "schedule.refused_value": "{message}",  # pydantic's own (English) words
}
DAYS = dict(zip(WEEKDAYS, ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag",
                           "zondag"), strict=True))
KINDS = {"staffed": "bemand", "openplus": "Open+"}
FIELDS = {"start": "begintijd", "end": "eindtijd", "date": "datum", "kind": "soort",
          "windows": "venster", "exceptions": "uitzondering"}


def problem_in_dutch(problem: str) -> str:
    """The Dutch sentence for a Problem; any other text (a library's message) as it is."""
    if not isinstance(problem, Problem) or problem.key not in DUTCH:
        return str(problem)
    values = {name: KINDS.get(value, value) if name.endswith("kind") else value
              for name, value in problem.values.items()}
    sentence = DUTCH[problem.key].format(**values)
    where = place_in_dutch(problem.place) if problem.place else ""
    return f"{where}: {sentence}" if where else sentence


def place_in_dutch(place: Place) -> str:
    """A named place by its name ('monday' -> 'Maandag'; a date stays a date), else its path:
    ('weekly', 'monday', 0, 'start') -> 'Maandag, venster 1, begintijd';
    ('exceptions', 0, 'date') -> 'Uitzondering 1, datum'."""
    if place.name:
        words = [DAYS.get(place.name, place.name)]
    else:
        words = []
        for part in place.path:
            if part == "weekly":
                continue
            if isinstance(part, int) and words and words[-1] in DAYS.values():
                words.append(f"venster {part + 1}")  # a weekday's list of windows
            elif isinstance(part, int) and words:
                words[-1] = f"{words[-1]} {part + 1}"
            else:
                words.append(DAYS.get(str(part)) or FIELDS.get(str(part)) or str(part))
    placed = ", ".join(words)
    return placed[:1].upper() + placed[1:]
