"""Timing and fault settings of the Vertex AI emulator.

One :class:`EmulatorConfig` holds everything a test can change at run time, through the CLI's
``--config FILE.json``, ``POST /_emulator/config`` (a partial JSON object, merged) or the
``VertexEmulator.configure(**faults)`` test helper. Keys (all optional):

============================ ======= ==========================================================
key                          default meaning
============================ ======= ==========================================================
``seed``                     0       seeds every random choice (job ids, faults, outcomes)
``time_scale``               1.0     multiplies every ``*_s`` duration below (0.01 in tests)
``queued_s``                 2.0     seconds in PENDING/QUEUED before RUNNING
``run_s``                    5.0     seconds in RUNNING before the finished state
``cancel_s``                 1.0     seconds in CANCELLING before CANCELLED
``delete_s``                 0.5     seconds until a delete's Operation is done
``fail_share``               0.0     share of jobs that end FAILED (by job id + seed)
``partial_share``            0.0     share of jobs that end PARTIALLY_SUCCEEDED
``expire_share``             0.0     share of jobs that end EXPIRED without running
``max_concurrent_jobs``      0       unfinished jobs allowed; a create beyond gets 429 (0: off)
``create_per_min``           0       creates admitted per sliding 60 s; beyond: 429 (0: off)
``read_per_min``             0       get/list/operation reads admitted per 60 s (0: off)
``retry_after_s``            0       ``Retry-After`` header on 429s when > 0
``error_500_rate``           0.0     share of API requests answered 500 INTERNAL
``error_503_rate``           0.0     share of API requests answered 503 UNAVAILABLE
``fault_methods``            all     method kinds the 500/503/latency faults apply to
``latency_s``                0.0     fixed delay before every API answer (not scaled)
``latency_jitter_s``         0.0     plus a uniform random delay in [0, jitter) (not scaled)
``create_then_drop_rate``    0.0     share of creates that create the job, then drop the TCP
                                     connection without an answer
``storm_429_s``              0.0     from now on, every create gets 429 for this many seconds
``rows_per_file``            10000   output rows per ``predictions_NNNNN`` file (custom models)
``shuffle_output``           false   write output rows in a seeded random order (``seed``)
``gemini_max_requests``      200000  requests per Gemini job; more fail the job (Google's limit)
``gemini_max_input_bytes``   1e9     input bytes per Gemini job; more fail the job (Google's 1 GB)
============================ ======= ==========================================================

Method kinds: ``create``, ``get``, ``list``, ``cancel``, ``delete``, ``operation_get``.
Rate quotas count per kind group: ``create`` alone; ``get``, ``list`` and ``operation_get``
as reads. Cancel and delete are not rate limited.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from vbq_emulators.errors import EmulatorConfigError

__all__ = ["METHOD_KINDS", "READ_KINDS", "EmulatorConfig"]

METHOD_KINDS: tuple[str, ...] = ("create", "get", "list", "cancel", "delete", "operation_get")
"""Every API method kind the emulator counts."""
READ_KINDS: frozenset[str] = frozenset({"get", "list", "operation_get"})
"""Kinds that share the ``read_per_min`` quota."""

_SHARES = ("fail_share", "partial_share", "expire_share")
_RATES = ("error_500_rate", "error_503_rate", "create_then_drop_rate")


@dataclass(frozen=True, kw_only=True)
class EmulatorConfig:
    """Timing and fault settings; see the module docstring for every key and unit."""

    seed: int = 0
    time_scale: float = 1.0
    queued_s: float = 2.0
    run_s: float = 5.0
    cancel_s: float = 1.0
    delete_s: float = 0.5
    fail_share: float = 0.0
    partial_share: float = 0.0
    expire_share: float = 0.0
    max_concurrent_jobs: int = 0
    create_per_min: int = 0
    read_per_min: int = 0
    retry_after_s: float = 0.0
    error_500_rate: float = 0.0
    error_503_rate: float = 0.0
    fault_methods: tuple[str, ...] = field(default=METHOD_KINDS)
    latency_s: float = 0.0
    latency_jitter_s: float = 0.0
    create_then_drop_rate: float = 0.0
    storm_429_s: float = 0.0
    rows_per_file: int = 10000
    shuffle_output: bool = False
    gemini_max_requests: int = 200_000
    gemini_max_input_bytes: int = 1_000_000_000

    def scaled(self, seconds: float) -> float:
        """``seconds`` multiplied by ``time_scale`` (a lifecycle duration in real seconds)."""
        return seconds * self.time_scale

    def merged(self, changes: dict[str, Any]) -> EmulatorConfig:
        """A copy with ``changes`` (JSON keys as in the module docstring) applied.

        Raises:
            EmulatorConfigError: an unknown key, a value of the wrong type, or a value out of range.
        """
        known = {f.name: f for f in fields(self)}
        values: dict[str, Any] = {}
        for key, raw in changes.items():
            if key not in known:
                raise EmulatorConfigError(f"unknown emulator config key {key!r}")
            values[key] = _coerce(key, raw, getattr(self, key))
        result = replace(self, **values)
        result.validate()
        return result

    def validate(self) -> None:
        """Check ranges.

        Raises:
            EmulatorConfigError: a share or rate outside [0, 1], shares summing above 1, a negative
                duration, or an unknown method kind in ``fault_methods``.
        """
        for name in (*_SHARES, *_RATES):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise EmulatorConfigError(f"{name} must be between 0 and 1, got {value}")
        if sum(getattr(self, n) for n in _SHARES) > 1.0 + 1e-9:
            raise EmulatorConfigError("fail_share + partial_share + expire_share must be <= 1")
        if self.error_500_rate + self.error_503_rate > 1.0 + 1e-9:
            raise EmulatorConfigError("error_500_rate + error_503_rate must be <= 1")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                raise EmulatorConfigError(f"{f.name} must be >= 0, got {value}")
        for name in ("rows_per_file", "gemini_max_requests", "gemini_max_input_bytes"):
            if getattr(self, name) < 1:
                raise EmulatorConfigError(f"{name} must be >= 1")
        unknown = set(self.fault_methods) - set(METHOD_KINDS)
        if unknown:
            raise EmulatorConfigError(f"fault_methods has unknown kinds {sorted(unknown)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every key."""
        out = asdict(self)
        out["fault_methods"] = list(self.fault_methods)
        return out

    @classmethod
    def from_file(cls, path: str | Path, *, base: EmulatorConfig | None = None) -> EmulatorConfig:
        """Read a JSON object of keys from ``path`` on top of ``base`` (default: defaults).

        Raises:
            EmulatorConfigError: the file is unreadable, not a JSON object, or holds a bad key.
        """
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise EmulatorConfigError(f"cannot read emulator config {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise EmulatorConfigError(f"emulator config {path} must hold a JSON object")
        return (base or cls()).merged(data)


def _coerce(key: str, raw: Any, current: Any) -> Any:
    if isinstance(current, bool):
        if not isinstance(raw, bool):
            raise EmulatorConfigError(f"{key} must be true or false, got {raw!r}")
        return raw
    if isinstance(current, tuple):
        if not isinstance(raw, list | tuple) or not all(isinstance(x, str) for x in raw):
            raise EmulatorConfigError(f"{key} must be a list of strings")
        return tuple(raw)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise EmulatorConfigError(f"{key} must be a number, got {raw!r}")
    if isinstance(current, int) and not isinstance(current, bool):
        if float(raw) != int(raw):
            raise EmulatorConfigError(f"{key} must be an integer, got {raw!r}")
        return int(raw)
    return float(raw)
