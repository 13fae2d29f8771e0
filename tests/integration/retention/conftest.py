"""Fixtures: a store on the session's redis-server and an archive bucket in the GCS emulator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from vbq.settings import Settings
from vbq.store import JobStore

RETENTION_S = 3600


@pytest.fixture
def bucket(storage_client: Any) -> str:
    name = f"archive-{uuid.uuid4().hex[:10]}"
    storage_client.create_bucket(name)
    return name


@pytest.fixture
def settings(redis_url: str, bucket: str) -> Settings:
    return Settings(
        redis_url=redis_url,
        project="proj-a",
        location="us-central1",
        retention_s=RETENTION_S,
        archive_prefix=f"gs://{bucket}/vbq-archive",
        retention_batch=7,
    )


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
