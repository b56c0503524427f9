"""Turning the project's own errors into 4xx answers with readable messages, never a 500.

No handler ever echoes request input: a refused PIN or password must not come back in
the error body (pydantic's default 422 body would include it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from controller.api.schemas import ErrorOut, RowProblem
from controller.domain.cards import CardFormatError
from controller.domain.pins import PinFormatError
from controller.domain.problems import first_problems
from controller.domain.schedule import ScheduleInvalid
from controller.http.allow import http_error_headers
from controller.http.services import DoorUnavailable
from controller.services.events import BadCursor
from controller.services.member_import import ImportRejected
from controller.services.users import UnknownToken, UnknownUser, UserError, UserInputError
from controller.store.members import MemberError


def _json(status: int, body: ErrorOut, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def validation_sentences(errors: Iterable[Any]) -> list[str]:
    """Pydantic errors as 'where: what' sentences; a refused schedule lists its own problems."""
    sentences: list[str] = []
    for error in errors:
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ScheduleInvalid):
            sentences.extend(cause.problems)
            continue
        parts = [str(part) for part in error.get("loc", ())]
        if parts[:1] == ["body"]:
            parts = parts[1:]
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        sentences.append(f"{'.'.join(parts)}: {message}" if parts else message)
    return sentences


def install_error_handlers(app: FastAPI) -> None:
    """Register one handler per project error; status codes are documented per route.

    Handlers for one exception class use FastAPI's `exception_handler` decorator: its type
    accepts them, where `add_exception_handler` wants a handler for any Exception."""

    def simple(status: int):
        async def handle(request: Request, exc: Exception) -> JSONResponse:
            return _json(status, ErrorOut(detail=str(exc)))

        return handle

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _json(exc.status_code, ErrorOut(detail=str(exc.detail)), http_error_headers(request, exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _json(
            422,
            ErrorOut(
                detail="the request is not valid", problems=first_problems(validation_sentences(exc.errors()))
            ),
        )

    @app.exception_handler(ImportRejected)
    async def import_rejected(request: Request, exc: ImportRejected) -> JSONResponse:
        rows = [RowProblem(line=error.line, reason=error.reason) for error in exc.errors]
        return _json(422, ErrorOut(detail=str(exc), rows=rows))

    @app.exception_handler(ScheduleInvalid)
    async def schedule_invalid(request: Request, exc: ScheduleInvalid) -> JSONResponse:
        return _json(
            422, ErrorOut(detail="the schedule is not valid; nothing was changed", problems=exc.problems)
        )

    for error, status in (
        (MemberError, 409),
        (UserError, 409),
        (UnknownUser, 404),
        (UnknownToken, 404),
        (UserInputError, 422),
        (CardFormatError, 422),
        (PinFormatError, 422),
        (BadCursor, 400),
        (DoorUnavailable, 503),
    ):
        app.add_exception_handler(error, simple(status))
