"""The recording handler that the chaos suite's ``vbq subscribe`` processes run.

Each run appends two JSON lines (``start`` then ``finish``) to
``$CHAOS_RECORD_DIR/handler-{pid}.jsonl``. A file, not Redis, because the chaos run restarts
Redis: the record of what ran must not depend on the system under test. ``O_APPEND`` writes of
one short line are atomic, so lines from the handler's threads never interleave, and a SIGKILL
loses at most the line being written (the reader skips a torn last line).
"""

from __future__ import annotations

import json
import os
import threading
import time

from vbq.events import JobEvent
from vbq.subscribers import current_delivery, handler

_lock = threading.Lock()
_fd: dict[int, int] = {}


def _write(record: dict[str, object]) -> None:
    line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
    pid = os.getpid()
    with _lock:
        fd = _fd.get(pid)
        if fd is None:
            path = os.path.join(os.environ["CHAOS_RECORD_DIR"], f"handler-{pid}.jsonl")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            _fd.clear()
            _fd[pid] = fd
    os.write(fd, line)


@handler("*")
def record(event: JobEvent) -> None:
    """Write ``start`` and ``finish`` lines around an optional sleep (``CHAOS_HANDLER_SLEEP_S``)."""
    delivery = current_delivery()
    base: dict[str, object] = {
        "event_id": event.event_id,
        "submission_id": event.submission_id,
        "state": event.state,
        "type": event.type,
        "pid": os.getpid(),
        "message_id": delivery.message_id if delivery else "",
        "attempt": delivery.delivery_attempt if delivery else None,
        "job_end": (event.job or {}).get("endTime"),
    }
    _write({**base, "phase": "start", "t": time.time()})
    delay_s = float(os.environ.get("CHAOS_HANDLER_SLEEP_S", "0") or 0)
    if delay_s:
        time.sleep(delay_s)
    _write({**base, "phase": "finish", "t": time.time()})
