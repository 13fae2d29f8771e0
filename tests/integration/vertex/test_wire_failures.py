"""Wire failures against real sockets: what was sent decides retryable vs ambiguous."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator

import pytest

from tests.integration.vertex.rawserver import (
    Behaviour,
    RawServer,
    close_silently,
    hang,
    partial_body,
    reset,
    respond,
)
from tests.support.services import free_port
from vbq.errors import VertexAmbiguousError, VertexRetryableError
from vbq.settings import Settings
from vbq.vertex import VertexClient

pytestmark = pytest.mark.integration

PARENT = "projects/p/locations/us-central1"
JOB = f"{PARENT}/batchPredictionJobs/1"
Serve = Callable[[Behaviour], RawServer]
BODY = {"displayName": "d", "labels": {"vbq-submission": "f" * 32}}


@pytest.fixture
def serve() -> Iterator[Serve]:
    servers: list[RawServer] = []

    def start(behaviour: Behaviour) -> RawServer:
        server = RawServer(behaviour).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _client(url: str, timeout_s: float = 0.4) -> VertexClient:
    return VertexClient(settings=Settings(vertex_endpoint=url), timeout_s=timeout_s)


@pytest.mark.parametrize("behaviour", [hang, close_silently, reset, partial_body])
def test_create_sent_without_answer_is_ambiguous(serve: Serve, behaviour: Behaviour) -> None:
    server = serve(behaviour)
    with _client(server.url) as client:
        with pytest.raises(VertexAmbiguousError) as info:
            client.create_batch_prediction_job(PARENT, BODY)
    assert info.value.ambiguous
    # The server really did receive the whole body: the create may have been applied.
    assert len(server.requests) == 1
    assert json.loads(server.requests[0].body) == BODY


@pytest.mark.parametrize("behaviour", [hang, close_silently, reset, partial_body])
def test_idempotent_calls_without_answer_are_retryable(serve: Serve, behaviour: Behaviour) -> None:
    server = serve(behaviour)
    with _client(server.url) as client:
        with pytest.raises(VertexRetryableError):
            client.get_batch_prediction_job(JOB)
        with pytest.raises(VertexRetryableError):
            client.cancel_batch_prediction_job(JOB)
        with pytest.raises(VertexRetryableError):
            list(client.iter_batch_prediction_jobs(PARENT))


def test_read_timeout_respects_timeout_s(serve: Serve) -> None:
    import time

    server = serve(hang)
    with _client(server.url, timeout_s=5.0) as client:
        started = time.monotonic()
        with pytest.raises(VertexAmbiguousError) as info:
            client.create_batch_prediction_job(PARENT, BODY, timeout_s=0.3)
        elapsed = time.monotonic() - started
    assert info.value.status == "DEADLINE_EXCEEDED"
    assert 0.25 <= elapsed < 3.0


def test_connect_refused_is_retryable_not_ambiguous() -> None:
    port = free_port()  # nothing listens there
    with _client(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(VertexRetryableError) as info:
            client.create_batch_prediction_job(PARENT, BODY)
    assert type(info.value) is VertexRetryableError
    assert not info.value.ambiguous
    assert info.value.status_code == 0


def test_html_502_from_a_proxy(serve: Serve) -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    server = serve(respond(502, page, content_type="text/html"))
    with _client(server.url) as client:
        with pytest.raises(VertexRetryableError) as info:
            client.get_batch_prediction_job(JOB)
        with pytest.raises(VertexRetryableError) as create_info:
            client.create_batch_prediction_job(PARENT, BODY)
    assert "502 Bad Gateway" in info.value.message
    assert type(create_info.value) is VertexRetryableError  # an answer, per the contract


def test_keep_alive_reuses_one_connection(serve: Serve) -> None:
    server = serve(respond(200, b'{"name": "x"}'))
    with _client(server.url) as client:
        for _ in range(5):
            client.get_batch_prediction_job(JOB)
    assert len({r.peer_port for r in server.requests}) == 1


def test_forked_child_opens_its_own_connection(serve: Serve) -> None:
    server = serve(respond(200, b'{"name": "x"}'))
    client = _client(server.url, timeout_s=5.0)
    client.get_batch_prediction_job(JOB)  # the parent now holds a kept-alive connection
    pid = os.fork()
    if pid == 0:  # child: use the inherited client, report through the exit code
        code = 1
        try:
            client.get_batch_prediction_job(JOB)
            client.get_batch_prediction_job(JOB)
            fresh = client.call_counts() == {"get": {200: 2}}  # per-process counters
            code = 0 if client._rest.pool.builds == 2 and fresh else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    client.get_batch_prediction_job(JOB)  # the parent's connection still works
    assert client.call_counts() == {"get": {200: 2}}
    client.close()
    ports = [r.peer_port for r in server.requests]
    assert len(ports) == 4
    parent_port = ports[0]
    assert ports[3] == parent_port  # parent kept its connection
    assert ports[1] == ports[2] != parent_port  # child had its own, kept alive too
