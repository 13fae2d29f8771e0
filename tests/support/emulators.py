"""Run the vbq emulators as real subprocesses for integration tests.

``VertexEmulator`` starts ``vbq emulator vertex`` and wraps its admin API; ``GcsEmulator``
starts ``vbq emulator gcs``. Both fail loudly (RuntimeError with the log tail) when the process
cannot start; they never skip.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.services import ManagedProcess, free_port, vbq_argv

__all__ = ["GcsEmulator", "VertexEmulator"]


class VertexEmulator:
    """``vbq emulator vertex`` on a free port.

    Args:
        log_dir: where the process log (and the config file) go.
        time_scale: multiplies every lifecycle duration (0.01: a job takes ~70 ms).
        config: startup config keys (see ``vbq_emulators.vertex.config``); ``reset()``
            returns to it.
        env: extra environment (``STORAGE_EMULATOR_HOST`` for gs:// inputs and outputs).
    """

    def __init__(
        self,
        log_dir: Path,
        *,
        time_scale: float = 0.01,
        config: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.log_dir = log_dir
        self.time_scale = time_scale
        self.config = dict(config or {})
        self.env = dict(env or {})
        self.port = free_port()
        self.process: ManagedProcess | None = None
        self._http: httpx.Client | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the SDK's ``api_endpoint`` and ``VBQ_VERTEX_ENDPOINT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> VertexEmulator:
        """Start the process and wait until it answers."""
        argv = vbq_argv(
            "emulator", "vertex", "--port", str(self.port), "--time-scale", str(self.time_scale)
        )
        if self.config:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            path = self.log_dir / f"vertex-config-{self.port}.json"
            path.write_text(json.dumps(self.config))
            argv += ["--config", str(path)]
        self.process = ManagedProcess(
            f"vertex-emulator-{self.port}",
            argv,
            log_dir=self.log_dir,
            env=self.env,
            port=self.port,
        ).start()
        self._http = httpx.Client(base_url=self.url, timeout=30.0)
        self._admin("GET", "health")
        return self

    def stop(self) -> None:
        """Stop the process."""
        if self._http is not None:
            self._http.close()
        if self.process is not None:
            self.process.stop()

    def _admin(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._http is None:
            raise RuntimeError("the vertex emulator is not started")
        response = self._http.request(method, f"/_emulator/{path}", **kwargs)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats``."""
        result: dict[str, Any] = self._admin("GET", "stats")
        return result

    def requests(self, since: float = 0.0) -> list[dict[str, Any]]:
        """``GET /_emulator/requests?since=T``: ``[{t, method, status}, ...]``."""
        result: list[dict[str, Any]] = self._admin("GET", "requests", params={"since": since})
        return result

    def jobs(self) -> list[dict[str, Any]]:
        """``GET /_emulator/jobs``: every job since the last reset (deleted ones included)."""
        result: list[dict[str, Any]] = self._admin("GET", "jobs")
        return result

    def configure(self, **faults: Any) -> dict[str, Any]:
        """``POST /_emulator/config``; returns the whole running config."""
        result: dict[str, Any] = self._admin("POST", "config", json=faults)
        return result

    def throttle(self, location: str, **rule: Any) -> list[dict[str, Any]]:
        """``POST /_emulator/throttle`` for ``location`` (``limit_per_s``, ``for_s``,
        ``then_per_s``, or ``clear=True``); returns every rule."""
        result: list[dict[str, Any]] = self._admin(
            "POST", "throttle", json={"location": location, **rule}
        )
        return result

    def throttles(self) -> list[dict[str, Any]]:
        """``GET /_emulator/throttle``: every create throttle rule."""
        result: list[dict[str, Any]] = self._admin("GET", "throttle")
        return result

    def reset(self) -> None:
        """``POST /_emulator/reset``: startup config, no jobs, no counters, no throttles."""
        self._admin("POST", "reset")


class GcsEmulator:
    """``vbq emulator gcs`` (in memory) on a free port."""

    def __init__(self, log_dir: Path, *, data_dir: Path | None = None) -> None:
        self.log_dir = log_dir
        self.data_dir = data_dir
        self.port = free_port()
        self.process: ManagedProcess | None = None

    @property
    def host(self) -> str:
        """Value for ``STORAGE_EMULATOR_HOST`` (``http://127.0.0.1:PORT``)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GcsEmulator:
        """Start the process and wait until its port accepts connections."""
        argv = vbq_argv("emulator", "gcs", "--port", str(self.port))
        if self.data_dir is not None:
            argv += ["--data-dir", str(self.data_dir)]
        self.process = ManagedProcess(
            f"gcs-emulator-{self.port}", argv, log_dir=self.log_dir, port=self.port
        ).start()
        deadline = time.monotonic() + 10
        while True:  # the port opens a moment before the API answers
            try:
                httpx.get(f"{self.host}/storage/v1/b", timeout=2).raise_for_status()
                return self
            except httpx.HTTPError as exc:
                if time.monotonic() > deadline:
                    log = self.process.log_text()
                    raise RuntimeError(f"gcs emulator did not answer:\n{log}") from exc
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop the process."""
        if self.process is not None:
            self.process.stop()
