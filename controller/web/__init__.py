"""Web pages for managers and security staff, served by the admin API's own app.

Server-rendered Jinja2 templates in Dutch (English by a switch), one small CSS file and a
little JavaScript for Today's self-update; no build step. `install_web(app)` adds them.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from controller.web.error_pages import install_error_pages
from controller.web.pages import new_state
from controller.web.routers import entries, members, schedule, signin, statistics, today, users

STATIC_DIR = Path(__file__).parent / "static"
ROUTERS = (
    signin.router,
    today.router,
    schedule.router,
    entries.router,
    members.router,
    statistics.router,
    users.router,
)


def install_web(app: FastAPI) -> None:
    """Add the pages, their static files and their error pages to an app from create_app."""
    app.state.web = new_state()
    install_error_pages(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        app.include_router(router)
