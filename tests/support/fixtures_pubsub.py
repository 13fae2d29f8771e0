"""Pytest fixtures for the Pub/Sub emulator (load with ``pytest_plugins``).

- ``pubsub_emulator`` (function): a fresh, memory-only emulator per test.
- ``pubsub_emulator_host`` (function): the same, with ``PUBSUB_EMULATOR_HOST`` set.
- ``pubsub_emulator_session`` (session, per xdist worker): one emulator shared by tests that
  use unique topic and subscription names.
- ``shared_pubsub_host`` (function): ``PUBSUB_EMULATOR_HOST`` set to the session emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pubsub import PubSubEmulator


@pytest.fixture
def pubsub_emulator(tmp_path: Path) -> Iterator[PubSubEmulator]:
    """A fresh, memory-only Pub/Sub emulator per test."""
    emulator = PubSubEmulator(tmp_path / "pubsub-logs").start()
    yield emulator
    emulator.stop()


@pytest.fixture
def pubsub_emulator_host(pubsub_emulator: PubSubEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``PUBSUB_EMULATOR_HOST`` set to the test's own emulator; returns ``host:port``."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host)
    return pubsub_emulator.host


@pytest.fixture(scope="session")
def pubsub_emulator_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PubSubEmulator]:
    """One emulator for the whole session (saves a process start per test)."""
    emulator = PubSubEmulator(tmp_path_factory.mktemp("pubsub-session")).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def shared_pubsub_host(
    pubsub_emulator_session: PubSubEmulator, monkeypatch: pytest.MonkeyPatch
) -> str:
    """``PUBSUB_EMULATOR_HOST`` set to the session's emulator; returns ``host:port``."""
    if not pubsub_emulator_session.process or not pubsub_emulator_session.process.alive():
        raise RuntimeError(f"pubsub emulator died:\n{pubsub_emulator_session.log_text()[-2000:]}")
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator_session.host)
    return pubsub_emulator_session.host
