"""Refusing JSON bodies nested deeper than any route needs, before anything parses them.

Python's json module recurses once per level: a body of a thousand `[` (a few kilobytes, sent
to the open login route) raised RecursionError, a 500. Rather than catching that wherever a
body happens to be parsed (FastAPI for the routes, the login route by hand), one middleware
measures the nesting of every JSON body first, in linear time and without recursion, and
answers 422 naming the problem. No route's body is nested more than a few levels.
"""

from __future__ import annotations

import re
from itertools import accumulate

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controller.api.schemas import ErrorOut

MAX_JSON_DEPTH = 32

_ESCAPE = re.compile(rb"\\.", re.DOTALL)  # a backslash and the character it escapes
_STRING = re.compile(rb'"[^"]*"')  # once escapes are gone, a string has no quote inside
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth(body: bytes) -> int:
    """How deep the arrays and objects in `body` nest (brackets inside strings don't count).

    Linear whatever the input: escapes go first, so every quote left opens or closes a
    string and the string pattern never rescans. Malformed JSON gets some number; the parser
    reports what is wrong with it afterwards.
    """
    brackets = _STRING.sub(b"", _ESCAPE.sub(b"", body)).translate(None, _NOT_BRACKETS)
    return max(accumulate(_STEP[byte] for byte in brackets), default=0)


def is_json(scope: Scope) -> bool:
    """A JSON content type (application/json or application/*+json), as FastAPI decides it."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";")[0].strip().lower()
            return media == b"application/json" or (
                media.startswith(b"application/") and media.endswith(b"+json")
            )
    return False


class JsonDepthLimit:
    """ASGI middleware: a JSON body nested deeper than MAX_JSON_DEPTH gets a 422, unparsed.

    The body is read whole first (the app's body-size limit, outside this middleware, still
    stops an oversized one with a 413) and handed on unchanged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nothing to check
                await self.app(scope, _replay([], message, receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        depth = json_depth(body)
        if depth > MAX_JSON_DEPTH:
            await _refuse(depth, send)
            return
        await self.app(scope, _replay([body], None, receive), send)


def _replay(chunks: list[bytes], first: Message | None, receive: Receive) -> Receive:
    """A receive that gives back the body already read (or the message that ended it),
    then whatever comes next (a disconnect)."""
    pending: list[Message] = (
        [first]
        if first is not None
        else [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
    )

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


async def _refuse(depth: int, send: Send) -> None:
    body = (
        ErrorOut(
            detail="the request is not valid",
            problems=[f"body: JSON nested {depth} levels deep; at most {MAX_JSON_DEPTH} are accepted"],
        )
        .model_dump_json()
        .encode()
    )
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
