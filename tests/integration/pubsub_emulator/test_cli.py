"""The ``vbq emulator pubsub`` command itself: a busy port is a clear error, not a hang."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.pubsub import PubSubEmulator
from tests.support.services import vbq_argv

pytestmark = pytest.mark.integration


def test_busy_port_fails_with_a_message(tmp_path: Path) -> None:
    first = PubSubEmulator(tmp_path / "logs").start()
    try:
        result = subprocess.run(
            vbq_argv("emulator", "pubsub", "--port", str(first.port)),
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        first.stop()
    assert result.returncode != 0
    assert f"127.0.0.1:{first.port}" in result.stderr
    assert "Traceback" not in result.stderr
