"""Child processes of the demo: each in its own process group, output in a log file.

Every role of the demo (redis-server, the emulators, Celery workers, beat, the subscriber)
runs as a child of ``vbq demo``. Each child gets a new session (so a Ctrl-C in the terminal
reaches only the demo, which then stops the children in order) and, on Linux, a parent-death
signal, so even a ``kill -9`` of the demo does not leave orphans behind. Stopping sends
SIGTERM to the child's whole process group (Celery forks), waits, then SIGKILLs the group.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from vbq.errors import ConfigError

__all__ = ["Child", "Supervisor", "free_port", "vbq_command"]

_PR_SET_PDEATHSIG = 1

# The supervisor forks its children from a process with live gRPC clients (the stack's Pub/Sub
# admin). gRPC's fork support would restart a poller in the child, whose close_fds then closes
# the poller's epoll fd: SIGABRT ("epoll_wait ... Bad file descriptor") before exec. No child
# uses the parent's gRPC state, so it is off (effective when set before gRPC starts).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def vbq_command(*args: str) -> list[str]:
    """argv that runs the ``vbq`` CLI with this interpreter (no PATH lookup needed)."""
    return [sys.executable, "-m", "vbq.cli", *args]


def _load_prctl() -> Callable[[int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl  # type: ignore[no-any-return]


# Resolved once here, not in the child: between fork and exec only a plain system call is
# safe when other threads (gRPC's, google-auth's) may hold locks the child would inherit.
_PRCTL = _load_prctl()


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask the kernel for SIGTERM when the demo dies.
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """One child process and its log file.

    Args:
        name: short role name (also the log file's stem).
        argv: the command.
        log_path: where stdout and stderr go (appended).
        env: the complete environment of the child.
        port: a TCP port the child listens on when ready (None: no port to wait for).
        cwd: working directory (default: the demo's).
        service: other children depend on it (stopped last).
    """

    def __init__(
        self,
        *,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str],
        port: int | None = None,
        cwd: Path | None = None,
        service: bool = False,
    ) -> None:
        self.name = name
        self.service = service
        self.ready_check: Callable[[], bool] | None = None
        self.ready_timeout_s = 30.0
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env)
        self.port = port
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The child's pid (also its process group id).

        Raises:
            ConfigError: the child was never started.
        """
        if self.proc is None:
            raise ConfigError(f"{self.name} was not started")
        return self.proc.pid

    def start(self) -> Child:
        """Start the process (does not wait for readiness; see :meth:`wait_ready`).

        Raises:
            ConfigError: the executable cannot be run.
        """
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as handle:
            try:
                self.proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,  # noqa: PLW1509 - only a prctl call, resolved up front
                )
            except OSError as exc:
                raise ConfigError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from exc
        return self

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(
        self, *, timeout_s: float = 30.0, check: Callable[[], bool] | None = None
    ) -> None:
        """Block until the port accepts connections and ``check()`` is true.

        Raises:
            ConfigError: the process exited or did not get ready within ``timeout_s`` seconds
                (the message carries the log's last lines).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.alive():
                code = self.proc.returncode if self.proc is not None else None
                raise ConfigError(
                    f"{self.name} exited with {code} while starting:\n{self.log_tail()}"
                )
            if (self.port is None or _accepts(self.port)) and (check is None or _safe(check)):
                return
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"{self.name} was not ready within {timeout_s:.0f}s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the child's process group (no-op once it exited)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def stop(self, *, timeout_s: float = 10.0) -> int | None:
        """SIGTERM the group, wait up to ``timeout_s`` seconds, then SIGKILL it.

        Returns:
            The exit code (None if the child was never started).
        """
        if self.proc is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        # Forked children of the group (Celery's pool) may outlive the leader.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return self.proc.returncode

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the log ("" when there is none)."""
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    """Starts children and stops all of them, newest first.

    Args:
        log_dir: where each child's ``{name}.log`` goes.
        env: the base environment of every child (the demo's own plus the stack's variables).
        cwd: working directory of the children.
        pids_file: kept up to date with one ``{name} {pid}`` line per running child (None: no
            file), so an operator (or a test) can see what the demo started.
    """

    def __init__(
        self,
        *,
        log_dir: Path,
        env: Mapping[str, str],
        cwd: Path | None = None,
        pids_file: Path | None = None,
    ) -> None:
        self.log_dir = log_dir
        self.env = dict(env)
        self.cwd = cwd
        self.pids_file = pids_file
        self.children: list[Child] = []

    def _write_pids(self) -> None:
        if self.pids_file is None:
            return
        text = "".join(f"{c.name} {c.pid}\n" for c in self.children if c.proc is not None)
        tmp = self.pids_file.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.pids_file)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        ready: Callable[[], bool] | None = None,
        timeout_s: float = 30.0,
        service: bool = False,
        wait: bool = True,
    ) -> Child:
        """Start ``argv`` as ``name`` and (by default) wait until it is ready.

        Args:
            service: a service other children use (stopped after them).
            wait: False returns right after the start; call :meth:`wait_all` later (starting
                several children before waiting overlaps their import time).
            port: wait until this TCP port accepts connections.
            env: extra variables on top of the supervisor's environment.
            ready: a further readiness check, polled until true.
            timeout_s: how long to wait for readiness, in seconds.

        Raises:
            ConfigError: the child could not start or did not get ready (with its log tail).
        """
        child = Child(
            name=name,
            argv=argv,
            log_path=self.log_dir / f"{name}.log",
            env={**self.env, **dict(env or {})},
            port=port,
            cwd=self.cwd,
            service=service,
        )
        child.ready_check = ready
        child.ready_timeout_s = timeout_s
        self.children.append(child)
        child.start()
        self._write_pids()
        if wait:
            child.wait_ready(timeout_s=timeout_s, check=ready)
        return child

    def wait_all(self, children: Sequence[Child]) -> None:
        """Wait until each of ``children`` is ready (its own check and timeout).

        Raises:
            ConfigError: one exited or did not get ready in time (with its log tail).
        """
        for child in children:
            child.wait_ready(timeout_s=child.ready_timeout_s, check=child.ready_check)

    def wait_exit(self, child: Child, *, timeout_s: float = 60.0) -> None:
        """Wait for a one-shot ``child`` to exit 0, then forget it.

        Raises:
            ConfigError: it exited with another code or ran longer than ``timeout_s`` seconds
                (it is stopped then), with its log tail.
        """
        if child.proc is None:
            raise ConfigError(f"{child.name} was not started")
        try:
            code = child.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            child.stop(timeout_s=2.0)
            raise ConfigError(
                f"{child.name} did not finish within {timeout_s:.0f}s:\n{child.log_tail()}"
            ) from None
        if code != 0:
            raise ConfigError(f"{child.name} exited with {code}:\n{child.log_tail()}")
        self.children.remove(child)
        self._write_pids()

    def dead(self) -> list[Child]:
        """Children that exited although nobody stopped them."""
        return [c for c in self.children if not c.alive()]

    def stop_all(self, *, timeout_s: float = 10.0) -> dict[str, int | None]:
        """Stop every child: first the roles, then the services they use.

        Children started with ``service=False`` (workers, beat, subscriber) get SIGTERM
        together and up to ``timeout_s`` seconds to finish; then the services (Redis, the
        emulators) likewise. Stragglers are SIGKILLed.

        Returns:
            ``{name: exit code}``.
        """
        codes: dict[str, int | None] = {}
        for wave in (False, True):
            group = [c for c in reversed(self.children) if c.service is wave]
            for child in group:
                child.signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            for child in group:
                codes[child.name] = child.stop(timeout_s=max(0.1, deadline - time.monotonic()))
        self.children.clear()
        self._write_pids()
        return codes


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:
        # Readiness probes hit services that are still starting: any error means "not yet".
        return False
