from __future__ import annotations

import json

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from vbq.producers.api.limits import BodySizeLimit, json_depth, parse_json_body
from vbq.producers.api.problems import PROBLEM_MEDIA_TYPE, ProblemError, problem_body


def test_problem_body_has_rfc9457_members_and_errors() -> None:
    body = problem_body(
        422, "invalid-spec", "bad", errors=[{"field": "gcs_source", "rule": "required"}]
    )
    assert body["type"].endswith("/invalid-spec")
    assert body["status"] == 422
    assert body["title"]
    assert body["detail"] == "bad"
    assert body["errors"] == [{"field": "gcs_source", "rule": "required", "message": ""}]
    assert "errors" not in problem_body(404, "not-found", "x")


def test_problem_response_media_type_and_headers() -> None:
    resp = ProblemError(401, "unauthenticated", "no key", headers={"WWW-Authenticate": "Bearer"})
    r = resp.to_response()
    assert r.status_code == 401
    assert r.media_type == PROBLEM_MEDIA_TYPE
    assert r.headers["www-authenticate"] == "Bearer"
    assert json.loads(bytes(r.body))["status"] == 401


def test_json_depth() -> None:
    assert json_depth(1) == 0
    assert json_depth({}) == 1
    assert json_depth({"a": [1, {"b": []}]}) == 4


@pytest.mark.parametrize(
    ("raw", "slug"),
    [
        (b"", "invalid-json"),
        (b"   ", "invalid-json"),
        (b"{", "invalid-json"),
        (b"\xff\xfe", "invalid-json"),
        (b'{"a": NaN}', "invalid-json"),
        (b"[" * 40 + b"]" * 40, "json-too-deep"),
        (b"[" * 100_000, "json-too-deep"),
    ],
)
def test_parse_json_body_refuses(raw: bytes, slug: str) -> None:
    with pytest.raises(ProblemError) as info:
        parse_json_body(raw, max_depth=32)
    assert info.value.status == 400
    assert info.value.slug == slug


def test_parse_json_body_accepts_within_depth() -> None:
    assert parse_json_body(b'{"a": [[1]]}', max_depth=3) == {"a": [[1]]}


def _app(limit: int) -> BodySizeLimit:
    async def echo(request: Request) -> Response:
        body = await request.body()
        return JSONResponse({"n": len(body)})

    return BodySizeLimit(Starlette(routes=[Route("/", echo, methods=["POST"])]), max_bytes=limit)


def test_body_limit_passes_small_and_refuses_large() -> None:
    client = TestClient(_app(100))
    assert client.post("/", content=b"x" * 100).json() == {"n": 100}
    r = client.post("/", content=b"x" * 101)
    assert r.status_code == 413
    assert r.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)


def test_body_limit_counts_streamed_chunks_without_content_length() -> None:
    client = TestClient(_app(1000))

    def chunks() -> object:
        for _ in range(20):
            yield b"y" * 100

    r = client.post("/", content=chunks())  # type: ignore[arg-type]
    assert r.status_code == 413
    r = client.post("/", content=iter([b"z" * 500, b"z" * 400]))
    assert r.json() == {"n": 900}
