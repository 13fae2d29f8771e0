"""Per-location create throttles of the Vertex emulator: Google's busy capacity pool, on demand.

A rule for one location (or ``*``, every location without its own rule) answers 429
``RESOURCE_EXHAUSTED`` to creates above ``limit_per_s`` in any sliding 1-second window, for
``for_s`` seconds (scaled by ``time_scale``, like every lifecycle duration; ``null``: for
ever), then admits up to ``then_per_s`` per second (``null``: no limit, the rule ends).
``limit_per_s`` 0 refuses every create (a region that is full). Rates are per real second
(like ``create_per_min``): the code under test runs on real time.

Only admitted creates count toward the window, as a quota counts what it let through. Set
with ``POST /_emulator/throttle`` (docs/contracts.md § Vertex emulator admin API); a reset
removes every rule.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from vbq_emulators.errors import EmulatorConfigError
from vbq_emulators.vertex.wire import api_error

__all__ = ["ThrottleRule", "Throttles"]

_WINDOW_S = 1.0
_ANY = "*"


@dataclass(kw_only=True)
class ThrottleRule:
    """One location's throttle; times in epoch seconds.

    Attributes:
        location: the location it applies to, or ``*``.
        limit_per_s: creates admitted per sliding second until ``until``.
        until: end of the throttled period (``None``: never ends).
        then_per_s: creates admitted per second afterwards (``None``: no limit).
        set_at: when the rule was set.
    """

    location: str
    limit_per_s: int
    until: float | None
    then_per_s: int | None
    set_at: float
    admitted: deque[float] = field(default_factory=deque)

    def limit_at(self, now: float) -> int | None:
        """Creates allowed per second at ``now`` (``None``: no limit)."""
        if self.until is None or now < self.until:
            return self.limit_per_s
        return self.then_per_s

    def to_dict(self, now: float) -> dict[str, Any]:
        """JSON view: the rule, seconds left in the throttled period and the limit now."""
        return {
            "location": self.location,
            "limit_per_s": self.limit_per_s,
            "then_per_s": self.then_per_s,
            "remaining_s": None if self.until is None else max(0.0, self.until - now),
            "current_limit_per_s": self.limit_at(now),
        }


class Throttles:
    """The rules, keyed by location, and their sliding windows (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, ThrottleRule] = {}

    def set(self, changes: Any, *, time_scale: float) -> dict[str, Any]:
        """Add or replace the rule of ``changes["location"]``.

        ``changes``: ``{"location": str, "limit_per_s": int >= 0, "for_s": number >= 0 | null,
        "then_per_s": int >= 0 | null}``; ``{"location": L, "clear": true}`` removes L's rule.

        Returns:
            The rule as :meth:`ThrottleRule.to_dict` shows it (``{}`` after a clear).

        Raises:
            EmulatorConfigError: a missing or malformed field.
        """
        if not isinstance(changes, dict):
            raise EmulatorConfigError("a throttle rule must be a JSON object")
        location = changes.get("location")
        if not isinstance(location, str) or not location:
            raise EmulatorConfigError("throttle: location must be a non-empty string (or '*')")
        if changes.get("clear") is True:
            with self._lock:
                self._rules.pop(location, None)
            return {}
        unknown = set(changes) - {"location", "limit_per_s", "for_s", "then_per_s"}
        if unknown:
            raise EmulatorConfigError(f"throttle: unknown keys {sorted(unknown)}")
        limit = _count(changes.get("limit_per_s"), "limit_per_s", optional=False)
        then = _count(changes.get("then_per_s"), "then_per_s", optional=True)
        for_s = changes.get("for_s")
        if for_s is not None and (
            isinstance(for_s, bool) or not isinstance(for_s, int | float) or for_s < 0
        ):
            raise EmulatorConfigError(f"throttle: for_s must be >= 0 or null, got {for_s!r}")
        now = time.time()
        rule = ThrottleRule(
            location=location,
            limit_per_s=int(limit or 0),
            until=None if for_s is None else now + float(for_s) * time_scale,
            then_per_s=then,
            set_at=now,
        )
        with self._lock:
            self._rules[location] = rule
        return rule.to_dict(now)

    def rules(self) -> list[dict[str, Any]]:
        """Every rule, by location."""
        now = time.time()
        with self._lock:
            return [self._rules[k].to_dict(now) for k in sorted(self._rules)]

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def check_create(self, location: str) -> None:
        """Admit one create in ``location`` (counting it) or refuse it.

        Raises:
            ApiError: 429 RESOURCE_EXHAUSTED, in Google's JSON error envelope.
        """
        now = time.time()
        with self._lock:
            rule = self._rules.get(location) or self._rules.get(_ANY)
            if rule is None:
                return
            limit = rule.limit_at(now)
            if limit is None:
                return
            window = rule.admitted
            while window and window[0] <= now - _WINDOW_S:
                window.popleft()
            if len(window) >= limit:
                raise api_error(
                    429,
                    f"Resource exhausted in {location}: the batch prediction capacity is busy "
                    f"({limit} creates per second admitted now). Please try again later.",
                )
            window.append(now)


def _count(value: Any, name: str, *, optional: bool) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise EmulatorConfigError(f"throttle: {name} must be an integer >= 0, got {value!r}")
    if float(value) != int(value):
        raise EmulatorConfigError(f"throttle: {name} must be an integer, got {value!r}")
    return int(value)
