"""The web process's application: the admin API and the pages on one ApiServices bundle.

The composition root of the HTTP side (above controller/api and controller/web, which never
import each other), built from explicit services (no module-level state). Serve it with
uvicorn (controller/api/server.py) or drive it with TestClient. API routes sit under /api/v1
and, apart from GET /health and POST /auth/token, need a bearer token.
"""

from __future__ import annotations

from fastapi import FastAPI

from controller.api.errors import install_error_handlers
from controller.api.json_depth import JsonDepthLimit
from controller.api.routers import (
    alerts,
    auth,
    door,
    events,
    footage,
    health,
    lms,
    members,
    metrics,
    outputs,
    schedule,
    users,
)
from controller.http.services import ApiServices
from controller.web import install_web

API_PREFIX = "/api/v1"
JSON_MAX_BYTES = 1024 * 1024  # everything but the member import (which allows 20 MB)

TAGS = [
    {"name": "health", "description": "Liveness; no token needed."},
    {
        "name": "metrics",
        "description": "Prometheus metrics at /metrics ([metrics] allow_from or role security).",
    },
    {"name": "auth", "description": "Log in for a bearer token; who am I."},
    {"name": "schedule", "description": "Opening schedule, holidays and the door mode (role manager)."},
    {"name": "members", "description": "The Open+ member list (role manager)."},
    {"name": "events", "description": "The event log and its CSV export (role security)."},
    {"name": "door", "description": "Door state and remote unlock (role security)."},
    {"name": "footage", "description": "Camera segments, event clips, keep marks (role security)."},
    {"name": "lms", "description": "The library-system link, its offline policy and rules (role security)."},
    {"name": "alerts", "description": "Open alerts and acknowledging one (role security)."},
    {"name": "outputs", "description": "Building outputs per mode and switching one by hand (role manager)."},
    {"name": "users", "description": "Admin users (role admin)."},
    {"name": "tokens", "description": "API tokens (role admin)."},
]

DESCRIPTION = """Admin API of an Open+ library door.

Send `Authorization: Bearer <token>`. Roles: **manager** (schedule, members), **security**
(events, door), **admin** (users, tokens; admin implies the other roles). Times are stored
in UTC and shown both in UTC and in Europe/Amsterdam. Every change is recorded in the event
log naming who made it (`api:<username>`)."""

ROUTERS = (
    health.router,
    auth.public_router,
    auth.router,
    schedule.router,
    schedule.mode_router,
    members.router,
    events.router,
    door.router,
    footage.router,
    lms.router,
    alerts.router,
    outputs.router,
    users.router,
    users.tokens_router,
)


def create_app(services: ApiServices) -> FastAPI:
    """A new app around `services`; two apps on the same data directory share nothing else."""
    app = FastAPI(
        title="openplus-door admin API",
        version="1",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        max_body_size=JSON_MAX_BYTES,
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(JsonDepthLimit)  # before any parser recurses into a deep body
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(metrics.router)  # /metrics, where Prometheus looks by default
    install_web(app)  # the pages for managers and security (controller/web), same services
    return app
