"""Fixtures of the scheduler tests that run real worker processes against the Vertex emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.workers.harness import EmulatorProc
from tests.support.services import ManagedProcess


@pytest.fixture
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProc]:
    """A Vertex emulator process of its own, stopped after the test."""
    emu = EmulatorProc(tmp_path_factory.mktemp("vertex")).start()
    yield emu
    emu.stop()


@pytest.fixture
def procs() -> Iterator[list[ManagedProcess]]:
    """The test appends the processes it starts; each is killed after the test."""
    started: list[ManagedProcess] = []
    yield started
    for p in started:
        p.kill()
