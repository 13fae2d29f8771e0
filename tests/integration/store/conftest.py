"""Fixtures: a JobStore on the session's private redis-server (flushed per test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from vbq.settings import Settings
from vbq.store import JobStore


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings(redis_url=redis_url, project="proj-a", location="us-central1")


@pytest.fixture
def store(settings: Settings) -> Iterator[JobStore]:
    st = JobStore.from_settings(settings)
    yield st
    st.close()


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()
