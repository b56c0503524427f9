"""Fixtures for the web page tests (builders live in web_support.py)."""

from __future__ import annotations

import pytest

from controller.services.runtime import Runtime
from tests.api.api_support import Api, build_api


@pytest.fixture
def web(runtime: Runtime) -> Api:
    """The app (API + pages) on a fresh data directory with admin, manny (manager), sec (security)."""
    return build_api(runtime)
