"""Fault injection, quotas and the request log of the Vertex emulator.

:class:`FaultGate` decides, per API request, whether to delay it, refuse it (429 storm,
per-minute quotas, injected 500/503) or, for a create, drop the connection after creating the
job. Random choices come from one RNG seeded with ``config.seed`` (reseeded on reset), so a
run with the same requests in the same order sees the same faults.

Quotas use a sliding 60-second window over admitted requests: ``create_per_min`` for creates,
``read_per_min`` for get/list/operation_get.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from typing import Any

from vbq_emulators.vertex.config import METHOD_KINDS, READ_KINDS, EmulatorConfig
from vbq_emulators.vertex.wire import api_error

__all__ = ["FaultGate", "RequestLog"]

_WINDOW_S = 60.0
_LOG_LIMIT = 1_000_000


class RequestLog:
    """Every API request's epoch time, method kind and answer status (0: dropped)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=_LOG_LIMIT)
        self._counts: Counter[str] = Counter()
        self._statuses: Counter[str] = Counter()

    def record(
        self, method: str, status: int, *, t: float, fault: str = "", location: str = ""
    ) -> None:
        """Append one entry (``fault`` names an injected fault, if any; ``location`` the
        request's location, when its path has one)."""
        entry: dict[str, Any] = {"t": t, "method": method, "status": status}
        if location:
            entry["location"] = location
        if fault:
            entry["fault"] = fault
        with self._lock:
            self._entries.append(entry)
            self._counts[method] += 1
            self._statuses[str(status)] += 1

    def since(self, t: float) -> list[dict[str, Any]]:
        """Entries with ``t >= since``, oldest first."""
        with self._lock:
            return [dict(e) for e in self._entries if e["t"] >= t]

    def counts(self) -> dict[str, int]:
        """Requests per method kind (every kind present, zero included)."""
        with self._lock:
            return {kind: self._counts.get(kind, 0) for kind in METHOD_KINDS}

    def statuses(self) -> dict[str, int]:
        """Requests per answered HTTP status (``"0"``: connection dropped)."""
        with self._lock:
            return dict(self._statuses)

    def clear(self) -> None:
        """Forget every entry and count."""
        with self._lock:
            self._entries.clear()
            self._counts.clear()
            self._statuses.clear()


class FaultGate:
    """Per-request fault decisions for the current :class:`EmulatorConfig`."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {"create": deque(), "read": deque()}
        self.apply(config, reseed=True)

    def apply(self, config: EmulatorConfig, *, reseed: bool = False) -> None:
        """Switch to ``config``; a non-zero ``storm_429_s`` starts a storm window now."""
        with self._lock:
            self.config = config
            if reseed:
                self._rng = random.Random(config.seed)
                for window in self._windows.values():
                    window.clear()
                self._storm_until = 0.0
            if config.storm_429_s > 0:
                self._storm_until = time.time() + config.storm_429_s

    def delay_s(self, method: str) -> float:
        """Seconds to sleep before answering (fixed latency plus seeded jitter)."""
        config = self.config
        if method not in config.fault_methods:
            return 0.0
        with self._lock:
            jitter = self._rng.random() * config.latency_jitter_s if config.latency_jitter_s else 0
        return config.latency_s + jitter

    def check(self, method: str) -> None:
        """Refuse the request if a fault or quota says so.

        Raises:
            ApiError: 429 RESOURCE_EXHAUSTED (storm, quota), 500 INTERNAL or
                503 UNAVAILABLE (injected).
        """
        config = self.config
        retry_after = config.retry_after_s or None
        now = time.time()
        with self._lock:
            if method == "create" and now < self._storm_until:
                raise api_error(
                    429,
                    "Quota exceeded for aiplatform.googleapis.com/batch_prediction_job "
                    "(emulated 429 storm).",
                    retry_after_s=retry_after,
                )
            group = "create" if method == "create" else "read" if method in READ_KINDS else ""
            limit = {"create": config.create_per_min, "read": config.read_per_min}.get(group, 0)
            if limit:
                window = self._windows[group]
                while window and window[0] <= now - _WINDOW_S:
                    window.popleft()
                if len(window) >= limit:
                    raise api_error(
                        429,
                        f"Quota exceeded for quota metric '{group} requests' and limit "
                        f"'{group} requests per minute' of service 'aiplatform.googleapis.com'.",
                        retry_after_s=retry_after,
                    )
                window.append(now)
            if method in config.fault_methods and (config.error_500_rate or config.error_503_rate):
                draw = self._rng.random()
                if draw < config.error_503_rate:
                    raise api_error(
                        503, "The service is currently unavailable.", retry_after_s=retry_after
                    )
                if draw < config.error_503_rate + config.error_500_rate:
                    raise api_error(500, "Internal error encountered.")

    def check_concurrency(self, unfinished: int) -> None:
        """Refuse a create when ``max_concurrent_jobs`` unfinished jobs exist.

        Raises:
            ApiError: 429 RESOURCE_EXHAUSTED.
        """
        limit = self.config.max_concurrent_jobs
        if limit and unfinished >= limit:
            raise api_error(
                429,
                f"Quota exceeded: {unfinished} batch prediction jobs are running or queued "
                f"and the limit is {limit}.",
                retry_after_s=self.config.retry_after_s or None,
            )

    def should_drop(self) -> bool:
        """True when this create's connection should be dropped after creating the job."""
        rate = self.config.create_then_drop_rate
        if not rate:
            return False
        with self._lock:
            return self._rng.random() < rate
