"""The poller's hook: which finished events wait for the job's results.

A finished event is *owed* (kept in ``vbq:results:owed`` until the results task read the
outputs, :mod:`vbq.store.results`) for:

- a pack of requests (metadata ``vbq_pack``), in every finished state: its event carries the
  request counts, and every request must be answered;
- a Gemini job that (partially) succeeded with Cloud Storage output, while
  ``VBQ_TOKEN_ACCOUNTING`` is on: its event carries the token sums.

A part of a split submission (metadata ``vbq_split``) also makes its parent due, so the
parent finishes as soon as its last part does.
"""

from __future__ import annotations

from typing import Any

from vbq.events import JobEvent
from vbq.settings import Settings
from vbq.states import SubmissionState
from vbq.store import SubmissionRecord
from vbq.store.results import ResultsBook

__all__ = ["ResultsHook", "wants_results"]

_READABLE = frozenset({SubmissionState.SUCCEEDED, SubmissionState.PARTIALLY_SUCCEEDED})


def wants_results(
    rec: SubmissionRecord, job: dict[str, Any], state: SubmissionState, settings: Settings
) -> bool:
    """True when ``rec`` entering finished ``state`` owes its event until results are read."""
    if isinstance(rec.metadata.get("vbq_pack"), dict):
        return True
    if not settings.token_accounting or state not in _READABLE:
        return False
    model = rec.model or ""
    gemini = "/publishers/google/models/gemini" in f"/{model}"
    output = str((job.get("outputInfo") or {}).get("gcsOutputDirectory") or "")
    return gemini and output.startswith("gs://")


class ResultsHook:
    """Owes events for the poller (see the module docstring).

    Args:
        book: the owed events.
        settings: ``VBQ_TOKEN_ACCOUNTING``.
    """

    def __init__(self, *, book: ResultsBook, settings: Settings) -> None:
        self.book = book
        self.settings = settings
        self.pending = False
        """True once something was owed or made due (the poll task then sends the results
        task at once instead of waiting for beat's next one)."""

    def defer(self, rec: SubmissionRecord, job: dict[str, Any], event: JobEvent) -> JobEvent | None:
        """Called before the finished transition: the event to append with it (None: owed)."""
        state = SubmissionState(event.state)
        split = rec.metadata.get("vbq_split")
        if isinstance(split, dict) and isinstance(split.get("parent"), str):
            self.book.watch(split["parent"])
            self.pending = True
        if not wants_results(rec, job, state, self.settings):
            return event
        self.book.owe(event)
        self.pending = True
        return None

    def take_pending(self) -> bool:
        """Whether the results task should run now (and reset the flag)."""
        pending, self.pending = self.pending, False
        return pending
