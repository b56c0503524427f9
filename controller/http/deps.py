"""The request dependencies both HTTP adapters (controller/api, controller/web) share: the
services bundle, one SQLite connection per request, and the admin use cases built on it.

Defined once here so the API and the pages cannot drift apart (they had two copies of the
connection dependency); FastAPI caches each per request, so a route, its role check and its
use case all work on the same connection. The use cases themselves are built in
controller/services/use_cases.py, as for the CLI.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

from controller.http.services import ApiServices
from controller.services.members import MemberAdmin
from controller.services.use_cases import member_admin, user_admin
from controller.services.users import UserAdmin


def services_of(request: Request) -> ApiServices:
    """The bundle the app was built around (create_app puts it on app.state)."""
    return request.app.state.services


Services = Annotated[ApiServices, Depends(services_of)]


def request_connection(services: Services) -> Iterator[sqlite3.Connection]:
    """A connection for this request only, closed when the request is done."""
    conn = services.runtime.connection()
    try:
        yield conn
    finally:
        conn.close()


Conn = Annotated[sqlite3.Connection, Depends(request_connection)]


def members_admin(services: Services, conn: Conn) -> MemberAdmin:
    """The member-list use cases on this request's connection."""
    return member_admin(services.runtime, conn)


def users_admin(services: Services, conn: Conn) -> UserAdmin:
    """The user, token and sign-in use cases on this request's connection."""
    return user_admin(services.runtime, conn, services.passwords)


Members = Annotated[MemberAdmin, Depends(members_admin)]
Users = Annotated[UserAdmin, Depends(users_admin)]
