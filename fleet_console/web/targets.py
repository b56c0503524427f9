"""The branches a form sends to: "all" (every branch the console knows) or the ticked ones.

Bounded before anything else looks at it: more ticked boxes than MAX_TARGETS is refused."""

from __future__ import annotations

from starlette.datastructures import FormData

from fleet_console.service.send import MAX_TARGETS, SendRefused


def chosen_branches(posted: FormData, known: list[str]) -> list[str]:
    if posted.get("all") == "1":
        return list(known)
    ticked = [value for value in posted.getlist("branch") if isinstance(value, str)]
    if len(ticked) > MAX_TARGETS:
        raise SendRefused(f"at most {MAX_TARGETS} branches per command")
    return ticked
