"""Session-wide fixtures: one private redis-server per test session, flushed per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

# The tests spawn many processes (fork + exec) from a process whose gRPC clients are live. With
# gRPC's fork support on, its fork handler restarts a poller in the child, and the child's
# close_fds then pulls the poller's epoll fd away: "epoll_wait ... Bad file descriptor", SIGABRT
# before exec (seen as a role "exited with -6 while starting"). Nothing here uses gRPC across
# a fork, so it is turned off before gRPC is initialised. Same in vbq_demo.supervisor.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import pytest
import redis

from tests.support.services import RedisServer

pytest_plugins = ["tests.support.fixtures_emulators"]
pytest_plugins += ["tests.support.fixtures_pubsub"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server (AOF on) on a free port for the whole session."""
    server = RedisServer(tmp_path_factory.mktemp("redis"), appendonly=True).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """URL of the session's Redis, flushed before each test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path
