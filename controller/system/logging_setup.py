"""Logging for the long-running commands (`serve`, `web`, `simulate`), configured in one place.

Without this, Python's last-resort handler printed warnings only, so every info line (what the
door said, mode changes, a reader reconnecting) was lost under systemd. Records go to stderr:

- under systemd (stderr is the journal stream named by $JOURNAL_STREAM) as `<6>name: message`:
  journald stamps the time itself and reads the `<N>` syslog prefix as the priority, so
  `journalctl -p warning` works;
- anywhere else as `2026-11-25 21:30:00,123 INFO name: message`.

A filter masks anything that looks like a full card number (8 or more digits in a row) down to
its last four, as `card_hint` does for events: a safety net for a log call that forgets.

A log call never waits for stderr: the root logger only puts the record on an unbounded queue,
and a listener thread writes it out. A journald that falls behind (or a full pipe) would
otherwise block whichever thread logged, the door loop included.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import os
import queue
import re
import sys
from collections.abc import Mapping
from typing import Literal, TextIO, get_args

from controller.domain.cards import card_hint

LogLevel = Literal["debug", "info", "warning", "error"]
LEVELS: tuple[str, ...] = get_args(LogLevel)

# Card numbers are 8 to 14 digits (cards.py); a longer run is masked too: safer than a gap.
_CARD_LIKE = re.compile(r"\d{8,}")
# syslog priorities (sd-daemon(3)): journald turns a `<N>` line prefix into PRIORITY=N.
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def mask_card_numbers(text: str) -> str:
    """Every run of 8 or more digits replaced by its card hint ('…0001')."""
    return _CARD_LIKE.sub(lambda match: card_hint(match.group()), text)


class CardNumberFilter(logging.Filter):
    """Masks card-like digit runs in the message, the traceback and the stack of each record.

    Attach it to a handler (as configure_logging does), not to a logger: a logger's filters
    do not see records propagated from its children. It never drops a record, and never
    raises: a log call with broken arguments must not fail on the door thread.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - mismatched %-arguments: logging reports those when it formats
            return True
        masked = mask_card_numbers(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_card_numbers(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_card_numbers(record.stack_info)
        return True


class JournalFormatter(logging.Formatter):
    """`<6>controller.door.branch: message`: journald adds the time and reads the priority."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        return f"<{priority}>{super().format(record)}"


class _StderrHandler(logging.StreamHandler):
    """Writes to stderr on the listener thread; its class lets a second call replace it."""


class _QueueHandler(logging.handlers.QueueHandler):
    """What the root logger holds: a put on an unbounded queue, never a write."""


_listener: logging.handlers.QueueListener | None = None


def flush_logs() -> None:
    """Write out every record logged so far (tests, and before the process exits)."""
    if _listener is not None and _listener._thread is not None:
        _listener.stop()
        _listener.start()


def _stop_listener() -> None:
    global _listener
    if _listener is not None and _listener._thread is not None:
        _listener.stop()
    _listener = None


atexit.register(_stop_listener)


def stream_is_journal(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """True when `stream` is the journal stream systemd names in $JOURNAL_STREAM ('dev:inode').

    Checking the device and inode (as systemd.exec(5) advises) rather than only that the
    variable is set: a child process whose stderr was redirected inherits the variable.
    """
    try:
        device, inode = (int(part) for part in environ["JOURNAL_STREAM"].split(":"))
        status = os.fstat(stream.fileno())
    except (KeyError, ValueError, OSError, AttributeError):
        return False
    return (status.st_dev, status.st_ino) == (device, inode)


def configure_logging(
    level: str, *, stream: TextIO | None = None, environ: Mapping[str, str] | None = None
) -> logging.Handler:
    """Send every logger's records at `level` and above to stderr (or `stream`), masked.

    Call it once at the start of a long-running command; calling it again replaces the
    handler it installed (tests, or a command that runs another), leaving others' alone.
    Returns the stderr handler (written to from the listener thread).
    """
    global _listener
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}: expected one of {', '.join(LEVELS)}")
    out = stream if stream is not None else sys.stderr
    handler = _StderrHandler(out)
    journal = stream_is_journal(out, os.environ if environ is None else environ)
    handler.setFormatter(
        JournalFormatter()
        if journal
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(CardNumberFilter())
    root = logging.getLogger()
    _stop_listener()
    for old in [h for h in root.handlers if isinstance(h, (_StderrHandler, _QueueHandler))]:
        root.removeHandler(old)
        old.close()
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _listener = logging.handlers.QueueListener(records, handler)
    _listener.start()
    root.addHandler(_QueueHandler(records))
    root.setLevel(level.upper())
    return handler
