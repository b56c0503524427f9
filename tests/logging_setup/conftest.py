"""Fixtures for the logging set-up: the root logger put back as it was, and streams to log to."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pytest


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    """configure_logging changes the process-wide root logger; undo it after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    from controller.system.logging_setup import _stop_listener

    _stop_listener()
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def stream() -> io.StringIO:
    """A plain stream: not the journal."""
    return io.StringIO()


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[tuple[TextIO, dict[str, str]]]:
    """A file standing in for the journal socket, and the environment systemd would set for it."""
    with open(tmp_path / "journal", "w+", encoding="utf-8") as file:
        status = os.fstat(file.fileno())
        yield file, {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}
