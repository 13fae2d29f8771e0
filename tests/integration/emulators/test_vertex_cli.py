"""``vbq emulator vertex --config FILE``: the startup config, and reset returning to it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.emulators.helpers import FINISHED, PARENT, job_body, wait_until
from tests.support.emulators import VertexEmulator

pytestmark = pytest.mark.integration


def test_config_file_and_reset(tmp_path: Path) -> None:
    emulator = VertexEmulator(tmp_path, time_scale=0.01, config={"expire_share": 1.0}).start()
    try:
        assert emulator.configure()["expire_share"] == 1.0
        assert emulator.configure()["time_scale"] == 0.01
        with httpx.Client(base_url=emulator.url, timeout=30.0) as http:
            name = http.post(f"/v1/{PARENT}/batchPredictionJobs", json=job_body()).json()["name"]
            state = wait_until(
                lambda: (s := http.get(f"/v1/{name}").json()["state"]) in FINISHED and s
            )
            assert state == "JOB_STATE_EXPIRED"
            emulator.configure(expire_share=0.0, create_per_min=1)
            emulator.reset()
            config = emulator.configure()
            assert config["expire_share"] == 1.0 and config["create_per_min"] == 0
            assert emulator.jobs() == []
    finally:
        emulator.stop()
    assert emulator.process is not None and not emulator.process.alive()


def test_bad_config_file_fails_loudly(tmp_path: Path) -> None:
    emulator = VertexEmulator(tmp_path, config={"fail_share": 5})
    with pytest.raises(RuntimeError, match="fail_share"):
        emulator.start()
    emulator.stop()
