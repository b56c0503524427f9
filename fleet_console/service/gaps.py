"""Messages a branch sent that never came (issue 17): seen by their seqs, asked for again.

The broker acknowledging a message (its PUBACK, on which the branch marks the outbox row sent)
does not mean it reached the console: a broker that crashes (SIGKILL, power loss) before it
saved or forwarded it loses it. Every outbox message carries the branch's `seq`, one up per
message, and the heartbeat says up to which seq the broker acknowledged all. The ingest marks
each seq here (store/seqs.py); `check_gaps`, on the link's thread every CHECK_SECONDS, notes
when a gap is first seen (the console's clock) and, when it is still open GAP_GRACE later (a
message overtaken on the way, or a heartbeat ahead of the events, has arrived by then), sends
the branch a signed `resend` {"from_seq", "to_seq"} for the first missing run. The branch puts
those rows back in its outbox (same ids: the console stores each once), or refuses naming the
range it no longer keeps: the console then counts them as lost and stops asking. Any other
refusal (no fleet key at the branch, ...) is shown on the overview and not asked again until
the gap moves.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.domain.clock import Clock
from controller.services.fleet.commands import MAX_RESEND, NOT_KEPT, RESEND_LIFETIME
from controller.store.db import transaction
from fleet_console.service.send import SendRefused, send_command
from fleet_console.store.commands import CommandStore
from fleet_console.store.seqs import Seqs, SeqStore

log = logging.getLogger(__name__)

GAP_GRACE = timedelta(minutes=5)  # a gap open this long (console clock) is asked for again
CHECK_SECONDS = 1.0  # how often the link looks (monotonic)
RESEND_BY = "gap check"  # the console user a branch's audit line names for a resend


def seq_received(conn: sqlite3.Connection, branch: str, seq: int) -> None:
    """A message with `seq` came from `branch` (a resent one too): inside the ingest's transaction."""
    store = SeqStore(conn)
    seqs = store.get(branch)
    if seqs is None:  # the first heard of: counted from here
        store.save(Seqs(branch, through=seq))
    elif seq > seqs.through:  # else a resend of what is here: nothing to write
        seqs.add(seq, seq)
        store.save(seqs)


def acked_seq_heard(conn: sqlite3.Connection, branch: str, acked_seq: int) -> None:
    """A heartbeat: the broker acknowledged every seq up to `acked_seq` (a gap at the end)."""
    store = SeqStore(conn)
    seqs = store.get(branch)
    if seqs is None:  # the first heard of: counted from here
        store.save(Seqs(branch, through=acked_seq, acked=acked_seq))
    elif acked_seq > seqs.acked:
        seqs.acked = acked_seq
        store.save(seqs)


def resend_answered(
    conn: sqlite3.Connection, branch: str, command_id: str, status: str, reason: str | None, now: datetime
) -> None:
    """The branch's ack of a resend this console sent: applied (the rows are on their way:
    another grace before asking again), refused as no longer kept (lost), or refused else."""
    command = CommandStore(conn).get(command_id)
    if command is None or command.kind != "resend":
        return
    store = SeqStore(conn)
    seqs = store.get(branch)
    if seqs is None:
        return
    if status == "applied":
        seqs.gap_since, seqs.asked_at = now, None
    elif reason is not None and NOT_KEPT in reason:
        seqs.give_up(int(command.body["from_seq"]), int(command.body["to_seq"]))
        log.warning("fleet console: %s no longer has seq %s", branch, _range(command.body))
    else:
        seqs.refused = (reason or "refused")[:500]
    store.save(seqs)


def check_gaps(
    conn: sqlite3.Connection, clock: Clock, key: Ed25519PrivateKey | None, grace: timedelta = GAP_GRACE
) -> list[str]:
    """Note new gaps and ask for those open longer than `grace`; the resend commands' ids."""
    sent: list[str] = []
    now = clock()
    for branch in [seqs.branch for seqs in SeqStore(conn).with_gaps()]:
        with transaction(conn):
            store = SeqStore(conn)
            seqs = store.get(branch)
            gap = None if seqs is None else seqs.first_gap()
            if seqs is None or gap is None or seqs.refused is not None:
                continue
            if seqs.gap_since is None:
                seqs.gap_since = now
            elif seqs.asked_at is not None and now < seqs.asked_at + RESEND_LIFETIME:
                continue  # asked, no answer yet
            elif now - seqs.gap_since >= grace:
                low, high = gap[0], min(gap[1], gap[0] + MAX_RESEND - 1)
                try:
                    sent.append(
                        send_command(
                            conn,
                            clock,
                            key,
                            kind="resend",
                            body={"from_seq": low, "to_seq": high},
                            targets=[branch],
                            by=RESEND_BY,
                        )
                    )
                    seqs.asked_at = now
                    log.warning("fleet console: %s is missing seq %d..%d; asked to resend", branch, low, high)
                except SendRefused as refused:  # no key: shown, not tried every second
                    seqs.refused = f"not asked: {refused}"
            else:
                continue
            store.save(seqs)
    return sent


def overdue(seqs: Seqs, now: datetime, grace: timedelta = GAP_GRACE) -> bool:
    """A gap the overview shows: open longer than the grace (a message merely overtaken on the
    way, or a heartbeat ahead of the events, is not one), or one the branch was asked about."""
    if seqs.first_gap() is None:
        return False
    return seqs.asked_at is not None or (seqs.gap_since is not None and now - seqs.gap_since >= grace)


def _range(body: dict[str, object]) -> str:
    return f"{body.get('from_seq')}..{body.get('to_seq')}"
