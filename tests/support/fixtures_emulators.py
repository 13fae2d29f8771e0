"""Pytest fixtures for the emulators (a plugin: ``pytest_plugins`` in tests/conftest.py).

- ``gcs_emulator`` (session): a ``GcsEmulator``; its ``.host`` is the STORAGE_EMULATOR_HOST.
- ``vertex_emulator_session`` (session): one ``VertexEmulator`` (time_scale 0.01) that reads
  and writes gs:// through ``gcs_emulator``.
- ``vertex_emulator`` (function): the session emulator, reset before each test.
- ``storage_client`` (function): google-cloud-storage client bound to ``gcs_emulator``.

Under ``pytest -n`` each worker process gets its own emulators (session scope is per worker).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.emulators import GcsEmulator, VertexEmulator


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsEmulator]:
    """A Cloud Storage emulator for the whole session; sets STORAGE_EMULATOR_HOST."""
    emulator = GcsEmulator(tmp_path_factory.mktemp("gcs-emulator")).start()
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = emulator.host
    yield emulator
    if previous is None:
        os.environ.pop("STORAGE_EMULATOR_HOST", None)
    else:
        os.environ["STORAGE_EMULATOR_HOST"] = previous
    emulator.stop()


@pytest.fixture(scope="session")
def vertex_emulator_session(
    tmp_path_factory: pytest.TempPathFactory, gcs_emulator: GcsEmulator
) -> Iterator[VertexEmulator]:
    """One Vertex emulator for the session (time_scale 0.01, gs:// via ``gcs_emulator``)."""
    emulator = VertexEmulator(
        tmp_path_factory.mktemp("vertex-emulator"),
        time_scale=0.01,
        env={"STORAGE_EMULATOR_HOST": gcs_emulator.host},
    ).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def vertex_emulator(vertex_emulator_session: VertexEmulator) -> VertexEmulator:
    """The session's Vertex emulator, reset (no jobs, no faults, no counters)."""
    vertex_emulator_session.reset()
    return vertex_emulator_session


@pytest.fixture
def storage_client(gcs_emulator: GcsEmulator) -> Any:
    """A google-cloud-storage client talking to ``gcs_emulator``."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="test", credentials=AnonymousCredentials())
