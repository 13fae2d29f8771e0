"""Fixtures for the events tests: a journaled Pub/Sub emulator, env for child processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pubsub import PubSubEmulator
from vbq.pubsub.admin import ensure_event_resources
from vbq.settings import Settings

PROJECT = "vbq-test"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[PubSubEmulator]:
    """A Pub/Sub emulator journaled to a data file (state survives kill + restart)."""
    em = PubSubEmulator(tmp_path / "logs", data_file=tmp_path / "pubsub.journal").start()
    yield em
    em.stop()


@pytest.fixture
def settings(redis_url: str, emulator: PubSubEmulator) -> Settings:
    """Settings for in-process clients; the topics and subscriptions exist already."""
    s = Settings(
        project=PROJECT,
        redis_url=redis_url,
        pubsub_emulator_host=emulator.host,
        shutdown_grace_s=10.0,
        inbox_ttl_s=3600,
    )
    ensure_event_resources(s)
    return s


@pytest.fixture
def child_env(settings: Settings) -> dict[str, str]:
    """Environment for ``vbq relay`` / ``vbq subscribe`` child processes."""
    return {
        "VBQ_REDIS_URL": settings.redis_url,
        "PUBSUB_EMULATOR_HOST": settings.pubsub_emulator_host,
        "VBQ_PROJECT": PROJECT,
        "VBQ_LOG_FORMAT": "json",
        "VBQ_SHUTDOWN_GRACE_S": str(settings.shutdown_grace_s),
        "VBQ_INBOX_TTL_S": str(settings.inbox_ttl_s),
    }
