"""Fixtures shared by the controller tests: an injected clock and a fresh data directory."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from controller.config import Settings, parse_settings
from controller.runtime import Runtime


class FakeClock:
    """A clock tests move by hand; always aware UTC, stepped in UTC (DST-safe)."""

    def __init__(self, start: datetime) -> None:
        self.now = start.astimezone(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    # A Wednesday evening in Open+ hours, Europe/Amsterdam winter time (UTC+1).
    return FakeClock(datetime(2026, 11, 25, 20, 30, tzinfo=timezone.utc))


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("OPENPLUS_DOOR_DATA_DIR", raising=False)
    monkeypatch.delenv("OPENPLUS_DOOR_CONFIG", raising=False)
    return parse_settings({"storage": {"data_dir": str(tmp_path / "data")}}, "test")


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Runtime:
    return Runtime.open(settings, clock=clock)
