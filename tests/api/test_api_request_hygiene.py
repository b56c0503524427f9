"""Requests the API must refuse with a clear 4xx, whatever route they reach: bodies nested too
deep to parse, methods a path does not take; and what the schema promises about dates."""

from __future__ import annotations

import pytest

from controller.api.json_depth import MAX_JSON_DEPTH, json_depth
from tests.api.api_support import PASSWORD, Api


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 1000, 100_000])
def test_a_deeply_nested_body_to_the_open_login_is_422_naming_the_nesting(api: Api, levels: int) -> None:
    """A thousand `[` once made the login's json.loads raise RecursionError: a 500."""
    response = api.client.post(
        "/api/v1/auth/token", content=nested(levels), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["problems"] == [
        f"body: JSON nested {levels} levels deep; at most {MAX_JSON_DEPTH} are accepted"
    ]


def test_every_json_route_refuses_a_deep_body_before_it_is_parsed(api: Api) -> None:
    body = '{"patron_id": "P1", "display_name": "A", "adult": true, "cards": ' + nested(1000) + "}"
    response = api.client.post(
        "/api/v1/members",
        content=body,
        headers={**api.auth("manny"), "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 422 and "JSON nested 1001 levels deep" in response.text
    schedule = api.client.put(
        "/api/v1/schedule",
        content=nested(500),
        headers={**api.auth("manny"), "Content-Type": "application/merge-patch+json"},
    )
    assert schedule.status_code == 422 and "JSON nested 500 levels deep" in schedule.text


def test_bodies_within_the_depth_limit_still_reach_their_route(api: Api) -> None:
    login = api.client.post("/api/v1/auth/token", json={"username": "sec", "password": PASSWORD})
    assert login.status_code == 200, login.text
    shallow = api.client.post(
        "/api/v1/auth/token", content=nested(MAX_JSON_DEPTH), headers={"Content-Type": "application/json"}
    )
    assert shallow.status_code == 422 and "nested" not in shallow.text  # the route's own answer


@pytest.mark.parametrize(
    "body, depth",
    [
        (b"", 0),
        (b"{}", 1),
        (b'{"a": [1, {"b": 2}]}', 3),
        (b'{"note": "[[[[{{{{"}', 1),  # brackets inside a string don't nest
        (b'["\\"[[[["]', 1),  # nor after an escaped quote
        (b'["\\\\", [[]]]', 3),  # an escaped backslash ends before the quote
    ],
)
def test_json_depth_counts_only_structure(body: bytes, depth: int) -> None:
    assert json_depth(body) == depth


def test_the_schema_states_the_years_the_api_takes(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    parameters = {
        (path, p["name"]): p
        for path, item in schema["paths"].items()
        for operation in item.values()
        for p in operation.get("parameters", [])
    }
    for path in ("/api/v1/events", "/api/v1/events/export.csv", "/api/v1/footage/segments"):
        for name in ("since", "until"):
            assert "Years 1970 to 9998." in parameters[(path, name)]["description"], (path, name)
    models = schema["components"]["schemas"]
    for model, field in (("BlockIn", "until"), ("KeepIn", "until")):
        until = models[model]["properties"][field]
        assert "Years 1970 to 9998." in until["description"]
        assert (until["formatMinimum"], until["formatMaximum"]) == ("1970-01-01", "9998-12-31")


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("PUT", "/api/v1/members", "GET, POST"),
        ("GET", "/api/v1/footage/events/1/keep", "PUT, DELETE"),
        ("DELETE", "/api/v1/schedule", "GET, PUT"),
        ("POST", "/api/v1/health", "GET"),
    ],
)
def test_a_405_lists_every_method_the_path_takes(api: Api, method: str, path: str, allowed: str) -> None:
    """Routing stops at the first route of a path: Allow once named only its method."""
    response = api.client.request(method, path, headers=api.auth("admin"))
    assert response.status_code == 405 and response.headers["allow"] == allowed


def test_a_405_page_lists_every_method_too(api: Api) -> None:
    page = api.client.put("/schedule", headers={"Accept": "text/html"})
    assert page.status_code == 405 and page.headers["allow"] == "GET, POST"
    assert page.headers["content-type"].startswith("text/html")


# Routes with a body, as (document path, method, a concrete path).
BODY_ROUTES = [
    ("/api/v1/auth/token", "post", "/api/v1/auth/token"),
    ("/api/v1/schedule", "put", "/api/v1/schedule"),
    ("/api/v1/schedule/validate", "post", "/api/v1/schedule/validate"),
    ("/api/v1/footage/events/{event_id}/keep", "put", "/api/v1/footage/events/1/keep"),
    ("/api/v1/users", "post", "/api/v1/users"),
    ("/api/v1/users/{username}/roles", "put", "/api/v1/users/manny/roles"),
    ("/api/v1/users/{username}/password", "put", "/api/v1/users/manny/password"),
    ("/api/v1/tokens", "post", "/api/v1/tokens"),
    ("/api/v1/members/import", "post", "/api/v1/members/import"),
    ("/api/v1/members", "post", "/api/v1/members"),
    ("/api/v1/members/{patron_id}/block", "post", "/api/v1/members/P1/block"),
    ("/api/v1/members/{patron_id}/pin", "put", "/api/v1/members/P1/pin"),
]
JSON_LIMIT, IMPORT_LIMIT = 1024 * 1024, 20 * 1024 * 1024


def oversized(path: str) -> bytes:
    limit = IMPORT_LIMIT if path.endswith("/import") else JSON_LIMIT
    return b'{"pad": "' + b"x" * limit + b'"}'


def in_two_chunks(body: bytes):
    """A body sent without Content-Length (chunked), so the limit only trips while reading."""
    yield body[: len(body) // 2]
    yield body[len(body) // 2 :]


def documented_413(api: Api, template: str, method: str) -> dict:
    return api.client.get("/openapi.json").json()["paths"][template][method]["responses"]["413"]


@pytest.mark.parametrize("template, method, path", BODY_ROUTES)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_oversized_body_gets_the_413_the_document_lists(
    api: Api, template: str, method: str, path: str, chunked: bool
) -> None:
    """Schemathesis sent PUT /schedule a body over 1 MiB: the 413 was in no route's document
    (only the member import listed one, and as JSON, though it comes as plain text)."""
    body = oversized(path)
    response = api.client.request(
        method.upper(),
        path,
        content=in_two_chunks(body) if chunked else body,
        headers={**api.auth("admin"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    media_type = response.headers["content-type"].split(";")[0]
    assert media_type in documented_413(api, template, method)["content"]


def test_a_body_that_runs_over_inside_a_route_gets_the_json_413_the_document_lists(api: Api) -> None:
    """Not JSON and not announced: the route itself reads past the limit, and our error
    handler answers with the ErrorOut body, the document's other 413 media type."""
    response = api.client.put(
        "/api/v1/schedule",
        content=in_two_chunks(oversized("/schedule")),
        headers={**api.auth("admin"), "Content-Type": "text/plain"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert "application/json" in documented_413(api, "/api/v1/schedule", "put")["content"]
