"""The ``filter`` grammar of ``batchPredictionJobs.list`` for the emulator.

The grammar itself lives in the core (:mod:`vbq.vertex.filters`), shared with ``vbq api``'s
Google surface; this module keeps the emulator's names and turns a malformed filter into the
emulator's own :class:`~vbq_emulators.errors.EmulatorConfigError` (mapped to 400
INVALID_ARGUMENT by the server), since the emulators never raise vbq's errors.
"""

from __future__ import annotations

from vbq.errors import FilterError as _CoreFilterError
from vbq.vertex import filters as _core
from vbq.vertex.filters import JobView, Predicate
from vbq_emulators.errors import EmulatorConfigError

__all__ = ["FilterError", "JobView", "Predicate", "parse_filter", "parse_rfc3339"]

FilterError = EmulatorConfigError
"""Raised for a malformed filter (an alias: filters are a kind of configuration input)."""


def parse_rfc3339(text: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp (``2024-01-01T00:00:00Z``, offsets allowed).

    Raises:
        EmulatorConfigError: not a timestamp with a time zone.
    """
    try:
        return _core.parse_rfc3339(text)
    except _CoreFilterError as exc:
        raise FilterError(str(exc)) from None


def parse_filter(text: str) -> Predicate:
    """Compile a filter expression into a predicate; an empty filter matches every job.

    Raises:
        EmulatorConfigError: the expression does not follow the grammar, names an unknown
            field, or uses an operator the field does not support (the message says which).
    """
    try:
        return _core.parse_filter(text)
    except _CoreFilterError as exc:
        raise FilterError(str(exc)) from None
