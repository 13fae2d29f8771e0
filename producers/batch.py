"""Results of :meth:`vbq.producers.Client.submit_many`: one entry per input item, by index."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vbq.states import SubmissionState

__all__ = ["BatchResult", "ItemError", "ItemResult"]


@dataclass(frozen=True, kw_only=True)
class ItemError:
    """Why one item of a batch was refused.

    Attributes:
        index: position of the item in the input (0-based).
        errors: ``[{field, rule, message}]``, as in :class:`vbq.errors.SpecError`.
    """

    index: int
    errors: tuple[Mapping[str, str], ...]

    @classmethod
    def single(cls, index: int, field: str, rule: str, message: str) -> ItemError:
        """An error with exactly one broken rule."""
        return cls(index=index, errors=({"field": field, "rule": rule, "message": message},))

    @property
    def fields(self) -> list[str]:
        """Names of the fields that broke a rule, in order."""
        return [e["field"] for e in self.errors]

    @property
    def message(self) -> str:
        """All broken rules as one line (``field: message; ...``)."""
        return "; ".join(f"{e['field']}: {e['message']}" for e in self.errors)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{index, fields, message, errors}``."""
        return {
            "index": self.index,
            "fields": self.fields,
            "message": self.message,
            "errors": [dict(e) for e in self.errors],
        }


@dataclass(frozen=True, kw_only=True)
class ItemResult:
    """One accepted item of a batch.

    Attributes:
        index: position of the item in the input (0-based).
        submission_id: the submission (new, or the one its idempotency key already named).
        created: False when the idempotency key matched an existing submission.
        state: the submission's state right after the call.
    """

    index: int
    submission_id: str
    created: bool
    state: SubmissionState

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{index, submission_id, created, state}``."""
        return {
            "index": self.index,
            "submission_id": self.submission_id,
            "created": self.created,
            "state": str(self.state),
        }


@dataclass(frozen=True, kw_only=True)
class BatchResult:
    """What :meth:`~vbq.producers.Client.submit_many` did.

    Attributes:
        accepted: items written to the job store (and enqueued), in input order.
        errors: items refused, in input order; with ``atomic=True`` and any error, ``accepted``
            is empty and nothing was written.
        atomic: whether the call was all-or-nothing.
    """

    accepted: tuple[ItemResult, ...] = ()
    errors: tuple[ItemError, ...] = ()
    atomic: bool = False

    @property
    def ok(self) -> bool:
        """True when no item was refused."""
        return not self.errors

    @property
    def ids(self) -> list[str]:
        """Submission ids of the accepted items, in input order."""
        return [r.submission_id for r in self.accepted]

    @property
    def created_count(self) -> int:
        """How many accepted items created a new submission."""
        return sum(1 for r in self.accepted if r.created)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{accepted, errors, atomic, ok}``."""
        return {
            "ok": self.ok,
            "atomic": self.atomic,
            "accepted": [r.to_dict() for r in self.accepted],
            "errors": [e.to_dict() for e in self.errors],
        }
