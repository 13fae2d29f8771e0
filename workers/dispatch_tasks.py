"""Every ``vbq worker`` runs the scheduler's dispatcher in a thread of its main process.

Only the holder of the fenced lease ``vbq:sched:lock`` dispatches; the other workers' threads
stand by and take over within the lease (10 s) when it dies (:mod:`vbq.scheduler.dispatcher`).
``VBQ_DISPATCHER=0`` leaves it out of a worker (for example workers that serve only polls).
No task is defined here: this module is included with the other ``*_tasks`` modules so that
any worker process connects the signals.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutting_down

from vbq.logs import get_logger
from vbq.scheduler.dispatcher import start_dispatcher_thread
from vbq.settings import Settings

__all__ = ["dispatcher_enabled"]

_log = get_logger("vbq.workers.dispatch")
_stop = threading.Event()


def dispatcher_enabled(env: dict[str, str] | None = None) -> bool:
    """False when ``VBQ_DISPATCHER`` is ``0``/``false``/``no``/``off``."""
    value = (env if env is not None else os.environ).get("VBQ_DISPATCHER", "1")
    return value.strip().lower() not in {"0", "false", "no", "off"}


@worker_ready.connect(weak=False)
def _start(**_: Any) -> None:
    if not dispatcher_enabled():
        return
    _stop.clear()
    start_dispatcher_thread(Settings.from_env(), _stop)
    _log.info("dispatch.thread_started")


@worker_shutting_down.connect(weak=False)
def _stop_dispatcher(**_: Any) -> None:
    _stop.set()
