"""Pytest fixtures for the Pub/Sub emulator (load with ``pytest_plugins``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pubsub import PubSubEmulator


@pytest.fixture
def pubsub_emulator(tmp_path: Path) -> Iterator[PubSubEmulator]:
    """A fresh, memory-only Pub/Sub emulator per test (starting takes well under a second)."""
    emulator = PubSubEmulator(tmp_path / "pubsub-logs").start()
    yield emulator
    emulator.stop()


@pytest.fixture
def pubsub_emulator_host(pubsub_emulator: PubSubEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``PUBSUB_EMULATOR_HOST`` set to the test's emulator; returns ``host:port``."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host)
    return pubsub_emulator.host
