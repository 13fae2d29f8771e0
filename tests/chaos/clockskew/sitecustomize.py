"""Clock skew for ONE chaos worker: imported by ``site`` when this directory is on PYTHONPATH.

Debian's ``faketime`` package is not installed on the test machines, so the chaos suite skews
the wall clock of one worker process in Python instead: when ``VBQ_CHAOS_CLOCK_FILE`` is set,
``time.time`` and ``time.time_ns`` return the real time plus the number of seconds written in
that file (re-read at most every 0.2 s, so the test can make the clock jump forward or back
while the worker runs). ``time.monotonic`` is untouched (it never jumps on a real host either)
and so is the C-level clock behind ``datetime.now()``: the skew reaches every caller of
``time.time()`` (vbq's due marks, structlog, Celery's timers based on wall time), not the
Redis-side clocks vbq relies on for ordering (``TIME`` in Lua).
"""

from __future__ import annotations

import os
import time

_PATH = os.environ.get("VBQ_CHAOS_CLOCK_FILE", "")

if _PATH:
    _real_time = time.time
    _real_time_ns = time.time_ns
    _state = {"offset_s": 0.0, "read_at": -1.0}

    def _offset_s() -> float:
        now = time.monotonic()
        if now - _state["read_at"] >= 0.2:
            _state["read_at"] = now
            try:
                with open(_PATH) as handle:
                    _state["offset_s"] = float(handle.read().strip() or 0.0)
            except (OSError, ValueError):
                pass
        return _state["offset_s"]

    def _skewed_time() -> float:
        return _real_time() + _offset_s()

    def _skewed_time_ns() -> int:
        return _real_time_ns() + int(_offset_s() * 1e9)

    time.time = _skewed_time
    time.time_ns = _skewed_time_ns
