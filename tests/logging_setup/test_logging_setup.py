"""Logging: configured once for the long-running commands, journal-friendly, no full card numbers."""

from __future__ import annotations

import argparse
import io
import logging
import re

import pytest

from controller.cli import run as cli_service
from controller.config.settings import parse_settings
from controller.system.logging_setup import CardNumberFilter, configure_logging, flush_logs, mask_card_numbers

log = logging.getLogger("controller.test")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 29990000000001 refused", "card …0001 refused"),
        ("tag 0005000002 and card 12345678", "tag …0002 and card …5678"),
        ("a 20-digit run 12345678901234567890", "a 20-digit run …7890"),
        ("seven digits 1234567 stay", "seven digits 1234567 stay"),
        ("PIN length 4, reader rfid, 2026-11-25 21:30", "PIN length 4, reader rfid, 2026-11-25 21:30"),
        ("http://127.0.0.1:8000/ and 192.168.100.200", "http://127.0.0.1:8000/ and 192.168.100.200"),
    ],
)
def test_card_like_digit_runs_keep_only_their_last_four(text, expected):
    assert mask_card_numbers(text) == expected


def test_card_numbers_are_masked_in_messages_arguments_and_tracebacks(stream):
    configure_logging("info", stream=stream, environ={})
    log.info("card %s at %s", "29990000000001", "scanner")
    log.warning("literal card 0005000002 in the message")
    try:
        raise ValueError("no member with card 29990000000003")
    except ValueError:
        log.exception("lookup failed for %s", "29990000000003")
    flush_logs()
    output = stream.getvalue()
    assert "…0001 at scanner" in output and "literal card …0002" in output
    assert "lookup failed for …0003" in output and "ValueError: no member with card …0003" in output
    assert not re.search(r"\d{8}", output)  # the traceback's source line included


def test_the_filter_lets_a_broken_log_call_through_without_raising():
    """logging itself reports the bad arguments when it formats; the caller (maybe the door
    thread) must not get an exception from the filter."""
    record = logging.LogRecord(
        "controller.test", logging.INFO, __file__, 1, "two placeholders %s %s", ("29990000000001",), None
    )
    assert CardNumberFilter().filter(record) is True


def test_plain_stderr_lines_carry_a_timestamp_and_the_level(stream):
    configure_logging("info", stream=stream, environ={})
    log.info("door says hello")
    flush_logs()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO controller\.test: door says "
        r"hello\n",
        stream.getvalue(),
    )


def test_journal_lines_carry_the_priority_and_no_timestamp(journal):
    file, environ = journal
    configure_logging("debug", stream=file, environ=environ)
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    flush_logs()
    file.seek(0)
    assert file.read() == (
        "<7>controller.test: d\n<6>controller.test: i\n<4>controller.test: w\n<3>controller.test: e\n"
    )


def test_journal_stream_of_another_file_is_not_the_journal(journal, stream):
    _, environ = journal  # inherited by a process whose stderr was redirected elsewhere
    configure_logging("info", stream=stream, environ=environ)
    log.info("x")
    flush_logs()
    assert not stream.getvalue().startswith("<")


def test_level_filters_and_a_second_call_replaces_the_first(stream):
    first = io.StringIO()
    configure_logging("info", stream=first, environ={})
    configure_logging("warning", stream=stream, environ={})
    log.info("quiet")
    log.warning("loud")
    flush_logs()
    assert first.getvalue() == ""
    assert "quiet" not in stream.getvalue() and "loud" in stream.getvalue()
    ours = [h for h in logging.getLogger().handlers if type(h).__name__ == "_QueueHandler"]
    assert len(ours) == 1


def test_a_log_call_never_waits_for_a_stuck_stderr():
    """The door thread logs: a journal that stops reading must not stop the door."""
    import threading

    class StuckStream(io.StringIO):
        def __init__(self):
            super().__init__()
            self.release = threading.Event()

        def write(self, text):
            self.release.wait(5)
            return super().write(text)

    stuck = StuckStream()
    configure_logging("info", stream=stuck, environ={})
    done = threading.Event()
    threading.Thread(target=lambda: (log.warning("one"), log.warning("two"), done.set()), daemon=True).start()
    assert done.wait(2), "a log call blocked on the stream"
    stuck.release.set()
    flush_logs()
    assert "one" in stuck.getvalue() and "two" in stuck.getvalue()


def test_unknown_level_is_refused():
    with pytest.raises(ValueError, match="unknown log level 'verbose'"):
        configure_logging("verbose", environ={})


@pytest.mark.parametrize("command", ["serve", "simulate"])
def test_serve_and_simulate_configure_logging_first_from_the_config(command, tmp_path, monkeypatch):
    settings = parse_settings({"storage": {"data_dir": str(tmp_path)}, "logging": {"level": "debug"}}, "test")
    levels = []

    class Configured(Exception):
        """Stops the command right after it configured logging: nothing else runs."""

    def configure(level: str) -> None:
        levels.append(level)
        raise Configured

    monkeypatch.setattr(cli_service, "configure_logging", configure)
    with pytest.raises(Configured):
        getattr(cli_service, command)(argparse.Namespace(mode="openplus"), settings)
    assert levels == ["debug"]


def test_the_web_servers_own_lines_take_the_same_format_and_mask(stream):
    """uvicorn used to install handlers of its own (plain stderr, no mask, no journal prefix);
    with log_config=None its lines reach the process's one handler like every other."""
    import socket

    from fastapi import FastAPI

    from controller.api.server import ApiServer

    configure_logging("info", stream=stream, environ={})
    server = ApiServer(FastAPI(), "127.0.0.1", 0)
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as peer:
            peer.sendall(b"NOT-HTTP 29990000000001\r\n\r\n")
            peer.recv(1024)  # uvicorn answers 400 and logs a warning
        logging.getLogger("uvicorn.error").warning("a line naming card 29990000000001")
    finally:
        server.stop()
    flush_logs()
    output = stream.getvalue()
    assert logging.getLogger("uvicorn.error").handlers == [] and logging.getLogger("uvicorn").handlers == []
    assert re.search(r"WARNING uvicorn\.error: Invalid HTTP request received", output), output
    assert "WARNING uvicorn.error: a line naming card …0001" in output
    assert not re.search(r"\d{8}", output)
