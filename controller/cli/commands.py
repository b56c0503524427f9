"""What each `openplus-door` subcommand does; parsing lives in cli.py."""

from __future__ import annotations

import argparse
import getpass
import sys
from contextlib import closing
from datetime import timedelta

from controller.cli.main import UsageError, actor, read_pin
from controller.config.settings import Settings
from controller.domain.cards import CardFormatError, card_hint, normalise_card
from controller.domain.clock import format_local, local_date
from controller.domain.events import EventType
from controller.domain.members import (
    Category,
    MemberRow,
    adult_on,
    birth_date_problem,
    block_note_problem,
)
from controller.domain.messages import door_message
from controller.domain.modes import DoorMode
from controller.domain.text import text_problem
from controller.services.access import Authorizer
from controller.services.demo import DEMO_PIN, demo_card_lines, demo_members
from controller.services.events import event_line
from controller.services.member_import import ImportRejected
from controller.services.members import default_valid_until
from controller.services.runtime import Runtime, reset_all_pins
from controller.services.use_cases import create_user, member_admin
from controller.store.events import EventFilter
from controller.store.members import MemberError


def check_config(args: argparse.Namespace, settings: Settings) -> int:
    print(f"configuration ok; data directory: {settings.data_dir}")
    return 0


def members_import(args: argparse.Namespace, settings: Settings) -> int:
    # Here, not at the top: `simulate` and `serve` import this module and never show a bar.
    from tqdm import tqdm  # type: ignore[import-untyped]  # no hints in tqdm; types-tqdm is not a dependency

    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise UsageError(f"{args.file}: cannot read ({exc})") from None
    runtime = Runtime.open(settings)
    with closing(runtime.connection()) as conn:
        try:
            with tqdm(
                total=max(data.count(b"\n"), 1), unit="rows", desc="importing", disable=None, file=sys.stderr
            ) as bar:
                counts = member_admin(runtime, conn).import_csv(
                    data, actor(), progress=bar.update, dry_run=args.dry_run
                )
        except ImportRejected as rejected:
            print(f"{args.file}: {rejected}", file=sys.stderr)
            for error in rejected.errors:
                print(f"  {error}", file=sys.stderr)
            return 1
    verb = "would be" if args.dry_run else "were"
    print(
        f"{counts.added} added, {counts.updated} updated, {counts.unchanged} unchanged, "
        f"{counts.removed} removed ({verb} changed; {args.file})"
    )
    return 0


def members_add(args: argparse.Namespace, settings: Settings) -> int:
    runtime = Runtime.open(settings)
    today = local_date(runtime.clock())
    try:
        cards = tuple(normalise_card(card) for card in args.card)
    except CardFormatError as exc:
        raise UsageError(str(exc)) from None
    name_problem = text_problem(args.name)  # the API's rule for names (PlainText)
    if name_problem:
        raise UsageError(f"--name: {name_problem}")
    birth_problem = args.birth_date and birth_date_problem(args.birth_date, today)
    if birth_problem:
        raise UsageError(birth_problem)
    row = MemberRow(
        patron_id=args.patron_id,
        display_name=args.name,
        cards=cards,
        adult_on=adult_on(args.birth_date) if args.birth_date else today,
        valid_until=args.valid_until or default_valid_until(today),
        openplus_registered_on=None if args.not_registered else (args.registered or today),
        category=Category.STAFF if args.staff else Category.MEMBER,
        guardian_consent=args.guardian_consent,
        more_time=args.more_time,
        pin=None if args.no_pin else read_pin(args),
    )
    return _change(runtime, lambda admin: admin.add(row, actor()), f"added {args.patron_id}")


def members_remove(args: argparse.Namespace, settings: Settings) -> int:
    return _change(
        Runtime.open(settings), lambda a: a.remove(args.patron_id, actor()), f"removed {args.patron_id}"
    )


def members_block(args: argparse.Namespace, settings: Settings) -> int:
    note = args.note.strip() if args.note else None
    problem = note and block_note_problem(note)  # the API's rule (BlockIn.note)
    if problem:
        raise UsageError(f"--note: {problem}")
    return _change(
        Runtime.open(settings),
        lambda a: a.block(args.patron_id, actor(), args.until, note),
        f"blocked {args.patron_id}" + (f" until {args.until}" if args.until else ""),
    )


def members_flags(args: argparse.Namespace, settings: Settings) -> int:
    if args.guardian_consent is None and args.more_time is None:
        raise UsageError("give --guardian-consent yes|no, --more-time yes|no or both")
    said = {"guardian_consent": args.guardian_consent, "more_time": args.more_time}
    flags = {name: value == "yes" for name, value in said.items() if value is not None}
    return _change(
        Runtime.open(settings),
        lambda a: a.set_flags(args.patron_id, actor(), **flags),
        f"{args.patron_id}: " + ", ".join(f"{name.replace('_', ' ')} {said[name]}" for name in flags),
    )


def members_unblock(args: argparse.Namespace, settings: Settings) -> int:
    return _change(
        Runtime.open(settings), lambda a: a.unblock(args.patron_id, actor()), f"unblocked {args.patron_id}"
    )


def members_set_pin(args: argparse.Namespace, settings: Settings) -> int:
    runtime = Runtime.open(settings)
    pin = read_pin(args)
    return _change(
        runtime, lambda a: a.set_pin(args.patron_id, pin, actor()), f"PIN set for {args.patron_id}"
    )


def _change(runtime: Runtime, change, done: str) -> int:
    with closing(runtime.connection()) as conn:
        try:
            change(member_admin(runtime, conn))
        except MemberError as exc:
            raise UsageError(str(exc)) from None
    print(done)
    return 0


def members_list(args: argparse.Namespace, settings: Settings) -> int:
    runtime = Runtime.open(settings)
    today = local_date(runtime.clock())
    with closing(runtime.connection()) as conn:
        store = runtime.members(conn)
        found = store.search(args.search, limit=args.limit)
        print(f"{store.count()} on the list; showing {len(found)}")
    lms = settings.lms.enabled
    for m in found:
        status = [m.category.value, *m.status(today, runtime.clock(), lms=lms)]
        status += [
            flag for flag, on in (("guardian consent", m.guardian_consent), ("more time", m.more_time)) if on
        ]
        if m.entry_blocked:  # security reads why and until when
            status.append(
                f"blocked until {m.blocked_until or 'unblocked'}"
                + (f": {m.block_note}" if m.block_note else "")
            )
        cards = " ".join(card_hint(c) for c in m.cards)
        print(
            f"{m.patron_id:<14} {m.display_name:<20} {cards:<14} until {m.valid_until}  {', '.join(status)}"
        )
    return 0


def demo_members_command(args: argparse.Namespace, settings: Settings) -> int:
    runtime = Runtime.open(settings)
    rows = demo_members(args.count, local_date(runtime.clock()))
    with closing(runtime.connection()) as conn:
        counts = member_admin(runtime, conn).replace_list(list(enumerate(rows, start=1)), actor())
    print(
        f"{args.count} demo members: {counts.added} added, {counts.updated} updated, {counts.removed} removed"
    )
    _print_demo_cards()
    return 0


def _print_demo_cards() -> None:
    print(f"Demo cards to try (every demo PIN is {DEMO_PIN}):")
    print("\n".join(demo_card_lines()))


def decide(args: argparse.Namespace, settings: Settings) -> int:
    runtime = Runtime.open(settings)
    now = args.at or runtime.clock()
    pin = args.pin if args.pin is not None else read_pin(args, confirm=False)
    with closing(runtime.connection()) as conn:
        authorizer = Authorizer(
            runtime.members(conn), runtime.events(conn), runtime.hasher, settings.access, settings.branch.door
        )
        decision = authorizer.authorize(args.card, pin, args.reader, DoorMode(args.mode), now)
    print(
        f"{'GRANTED' if decision.granted else 'REFUSED'} ({decision.reason.value}) at "
        f"{format_local(now)}: {door_message(decision.reason)}"
    )
    return 0 if decision.granted else 1


def events_list(args: argparse.Namespace, settings: Settings) -> int:
    runtime = Runtime.open(settings)
    try:
        types = (EventType(args.type),) if args.type else ()
    except ValueError:
        raise UsageError(
            f"unknown event type '{args.type}' (one of: {', '.join(t.value for t in EventType)})"
        ) from None
    where = EventFilter(since=args.since, member_ref=args.member, types=types, reason=args.reason)
    with closing(runtime.connection()) as conn:
        for event in runtime.events(conn).query(where, limit=args.limit):
            print(event_line(event))
    return 0


def events_purge(args: argparse.Namespace, settings: Settings) -> int:
    from controller.services.statistics import roll_up

    runtime = Runtime.open(settings)
    roll_up(runtime)  # first: the statistics' counts outlive the events
    cutoff = runtime.clock() - timedelta(days=settings.events.retention_days)
    with closing(runtime.connection()) as conn:
        removed = runtime.events(conn).purge(cutoff)
    print(f"{removed} event(s) older than {format_local(cutoff)} deleted")
    return 0


def users_add(args: argparse.Namespace, settings: Settings) -> int:
    from controller.services.users import UserError, UserInputError

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            raise UsageError("the two passwords differ")
    try:
        user = create_user(Runtime.open(settings), args.username, password, args.role, actor())
    except (UserError, UserInputError) as exc:
        raise UsageError(str(exc)) from None
    print(f"user {user.username} added with roles {', '.join(args.role)}")
    return 0


def pins_reset_all(args: argparse.Namespace, settings: Settings) -> int:
    """The way back from a lost PIN key: every PIN cleared, the key on disk (or a new one)
    bound to the database. Members then get a new PIN from staff (`members set-pin`)."""
    if not args.yes:
        raise UsageError(
            "this clears every member's PIN (each then needs a new one from staff); add --yes to do it"
        )
    cleared = reset_all_pins(settings, actor())
    print(f"{cleared} PIN(s) cleared; the PIN key in {settings.data_dir} is now the one in use")
    return 0
