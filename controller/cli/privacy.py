"""`openplus-door privacy export PATRON` and `privacy erase PATRON --yes` (AVG/GDPR).

The use cases are controller.services.privacy; here only the arguments and what is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from controller.cli.main import UsageError, actor
from controller.config.settings import Settings
from controller.services.privacy import UnknownMember, erase_member, export_member
from controller.services.runtime import Runtime
from controller.services.use_cases import footage_service


def privacy_export(args: argparse.Namespace, settings: Settings) -> int:
    runtime = Runtime.open(settings)
    try:
        data = export_member(runtime, args.patron_id, actor())
    except UnknownMember as exc:
        raise UsageError(str(exc)) from None
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # a person's data
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(
        f"{args.patron_id}: {len(data['events'])} event(s), {len(data['footage'])} clip(s) "
        f"written to {args.output}"
    )
    return 0


def privacy_erase(args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes:
        raise UsageError(
            f"this removes {args.patron_id} and pseudonymises their events for good; add --yes to do it"
        )
    runtime = Runtime.open(settings)
    try:
        done = erase_member(runtime, args.patron_id, actor(), footage_service(runtime))
    except UnknownMember as exc:
        raise UsageError(str(exc)) from None
    print(
        f"{args.patron_id} erased: removed from the list, {done.events} event(s) and "
        f"{done.audit_lines} audit line(s) now name {done.pseudonym}, {done.clips_deleted} "
        f"clip(s) deleted"
        + (f", {done.clips_kept} kept for an incident until their keep mark ends" if done.clips_kept else "")
    )
    return 0
