"""Health server and shutdown watchdog of ``vbq worker`` (Celery signal handlers).

- ``worker_ready`` (parent process, after the pool forked): start the ``/metrics``,
  ``/healthz``, ``/readyz`` server. Starting it later than the fork keeps the listening socket
  out of the children.
- ``worker_shutting_down`` (SIGTERM → Celery's warm shutdown): running tasks may finish; a
  watchdog kills the pool and exits after ``Settings.shutdown_grace_s`` if they do not. With
  ``acks_late`` a task that did not finish was never acked, so the broker redelivers it, and the
  submit path reconciles any create that may have been sent (list by label).
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from vbq.logs import get_logger
from vbq.settings import Settings

__all__ = ["install_worker_health"]

_log = get_logger("vbq.worker.health")
_installed: list[Any] = []  # strong references to the handlers (Celery holds them weakly)


def install_worker_health(settings: Settings, *, metrics_port: int | None = None) -> None:
    """Connect the health server and the shutdown watchdog to Celery's worker signals.

    Args:
        settings: readiness targets, ``metrics_port`` (unless ``metrics_port`` is given) and
            ``shutdown_grace_s``.
        metrics_port: overrides ``settings.metrics_port``; 0 = no health server.
    """
    from celery.signals import worker_init, worker_ready, worker_shutting_down

    state: dict[str, Any] = {}

    def on_init(sender: Any = None, **_: Any) -> None:
        state["worker"] = sender

    def on_ready(**_: Any) -> None:
        from vbq.health import start_for_role

        state["server"] = start_for_role("worker", settings, port=metrics_port)

    def on_shutting_down(**_: Any) -> None:
        grace_s = settings.shutdown_grace_s
        _log.info("worker.shutting_down", grace_s=grace_s)
        timer = threading.Timer(grace_s, _give_up, args=(state.get("worker"), grace_s))
        timer.daemon = True
        timer.start()

    for sig, handler in (
        (worker_init, on_init),
        (worker_ready, on_ready),
        (worker_shutting_down, on_shutting_down),
    ):
        sig.connect(handler, weak=False)
        _installed.append(handler)


def _give_up(worker: Any, grace_s: float) -> None:
    """Grace period over: kill the pool's children and leave (their messages stay unacked)."""
    pids = _pool_pids(worker)
    _log.warning("worker.grace_expired", grace_s=grace_s, killing=pids)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    os._exit(1)


def _pool_pids(worker: Any) -> list[int]:
    # billiard's pool keeps its processes in `_pool`; any other pool has no children to kill.
    try:
        procs = worker.pool._pool._pool
        return [int(p.pid) for p in procs if getattr(p, "pid", None)]
    except AttributeError:
        return []
