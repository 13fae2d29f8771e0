"""Run the real ``vbq emulator pubsub`` CLI as a child process for integration tests."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.services import ManagedProcess, free_port, vbq_argv, wait_for_port


class PubSubEmulator:
    """The Pub/Sub emulator on free loopback ports, optionally journaled, restartable.

    ``host`` is what ``PUBSUB_EMULATOR_HOST`` takes. The port stays the same across
    :meth:`restart`, so clients reconnect to the new process by themselves.
    """

    def __init__(self, log_dir: Path, *, data_file: Path | None = None) -> None:
        self.log_dir = log_dir
        self.data_file = data_file
        self.port = free_port()
        self.admin_port = free_port()
        self.process: ManagedProcess | None = None
        self._starts = 0

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT`` for ``PUBSUB_EMULATOR_HOST``."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> PubSubEmulator:
        """Start the CLI and wait until both ports accept connections.

        Raises:
            RuntimeError: the process died or never listened (with its log tail).
        """
        argv = ["emulator", "pubsub", "--port", str(self.port)]
        argv += ["--admin-port", str(self.admin_port)]
        if self.data_file is not None:
            argv += ["--data-file", str(self.data_file)]
        self._starts += 1
        self.process = ManagedProcess(
            f"pubsub-{self.port}-{self._starts}",
            vbq_argv(*argv),
            log_dir=self.log_dir,
            env={"VBQ_LOG_FORMAT": "json"},
            port=self.port,
        ).start()
        wait_for_port(self.admin_port, proc=self.process.proc, log=self.process.log)
        return self

    def stop(self) -> None:
        """SIGTERM (graceful: streams end with UNAVAILABLE, the journal is closed)."""
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything beyond what each RPC already wrote."""
        if self.process is not None:
            self.process.kill()

    def restart(self, *, kill: bool = True) -> PubSubEmulator:
        """Kill (or stop) and start again on the same ports and data file."""
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start()

    def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats``: per-subscription and per-stream counters."""
        url = f"http://127.0.0.1:{self.admin_port}/_emulator/stats"
        with urllib.request.urlopen(url, timeout=5) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    def leases(self) -> list[dict[str, Any]]:
        """``GET /_emulator/leases``: every outstanding message with its stream and deadline."""
        url = f"http://127.0.0.1:{self.admin_port}/_emulator/leases"
        with urllib.request.urlopen(url, timeout=5) as response:
            result: list[dict[str, Any]] = json.loads(response.read())
            return result

    def log_text(self) -> str:
        """The current process's output."""
        return self.process.log_text() if self.process is not None else ""
