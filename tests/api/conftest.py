"""Fixtures for the admin API tests (builders live in api_support.py)."""

from __future__ import annotations

import pytest

from controller.services.runtime import Runtime
from tests.api.api_support import Api, build_api


@pytest.fixture
def api(runtime: Runtime) -> Api:
    """An app on a fresh data directory with users admin, manny (manager) and sec (security)."""
    return build_api(runtime)
