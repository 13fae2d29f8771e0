"""Reading submissions from the job store (mixed into :class:`vbq.store.JobStore`): one
record, many, a page of a listing or a filtered scan, the unfinished ones of a place, counts
by state. Reads never change anything (keys: :mod:`vbq.store.keys`).
"""

from __future__ import annotations

from collections.abc import Sequence

import redis as redis_lib

from vbq.errors import NotFoundError
from vbq.states import SubmissionState
from vbq.store.keys import inflight_key, state_index_key, sub_key
from vbq.store.listing import list_page
from vbq.store.paging import Cursor
from vbq.store.records import SpecLoader, SubmissionRecord, decode_record
from vbq.store.removal import _text
from vbq.store.scanning import ScanPage, ScanQuery, scan_page

__all__ = ["SubmissionReads"]

# ``list`` shadows the builtin inside the class body, where annotations resolve.
_Records = list[SubmissionRecord]


class SubmissionReads:
    """``get``, ``get_many``, ``list``, ``scan``, ``unfinished``, ``count_by_state`` on the
    store's ``redis`` client, decoding specs with its ``_load_spec``."""

    redis: redis_lib.Redis
    _load_spec: SpecLoader

    def get(self, submission_id: str, tenant: str | None = None) -> SubmissionRecord:
        """The record of ``submission_id``.

        Args:
            tenant: when given, a record of another tenant is reported as not found (its
                existence is never revealed).

        Raises:
            NotFoundError: no such submission (or not visible to ``tenant``).
        """
        raw = self.redis.hgetall(sub_key(submission_id))
        if not raw:
            raise NotFoundError(f"submission {submission_id} not found")
        rec = decode_record(raw, spec_loader=self._load_spec)
        if tenant is not None and rec.tenant != tenant:
            raise NotFoundError(f"submission {submission_id} not found")
        return rec

    def get_many(self, submission_ids: Sequence[str]) -> list[SubmissionRecord]:
        """Records of the ids that exist, in the given order (missing ids are left out)."""
        pipe = self.redis.pipeline(transaction=False)
        for sid in submission_ids:
            pipe.hgetall(sub_key(sid))
        return [decode_record(raw, spec_loader=self._load_spec) for raw in pipe.execute() if raw]

    def list(
        self,
        tenant: str | None = None,
        state: SubmissionState | str | None = None,
        label: tuple[str, str] | None = None,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> tuple[_Records, str | None]:
        """One page of submissions, newest first.

        Filters combine with AND. The page token is opaque; pages stay consistent while new
        submissions arrive (they sort before the cursor).

        Args:
            tenant: only this tenant's submissions.
            state: only submissions currently in this state.
            label: only submissions whose spec carries label ``key=value``.
            page_size: 1..1000 records per page.
            page_token: the token returned with the previous page.

        Returns:
            ``(records, next_page_token)``; the token is None on the last page.

        Raises:
            StoreError: page_size out of range or a malformed page token.
        """
        return list_page(
            self.redis,
            self.get_many,
            tenant=tenant,
            state=state,
            label=label,
            page_size=page_size,
            page_token=page_token,
        )

    def scan(
        self, query: ScanQuery, *, page_size: int, after: Cursor | None, max_examined: int
    ) -> tuple[_Records, ScanPage]:
        """One page of a filtered listing, newest first (:mod:`vbq.store.scanning`)."""
        page = scan_page(
            self.redis, query, page_size=page_size, after=after, max_examined=max_examined
        )
        return self.get_many(page.ids), page

    def unfinished(self, project: str, location: str) -> _Records:
        """Submissions with a Vertex job in (project, location) that has not finished.

        Oldest submission first (the ``vbq:inflight`` zset, score = ``submitted_at``).
        """
        ids = [_text(m) for m in self.redis.zrange(inflight_key(project, location), 0, -1)]
        return self.get_many(ids)

    def count_by_state(self) -> dict[SubmissionState, int]:
        """How many submissions are in each state (states with none are left out)."""
        pipe = self.redis.pipeline(transaction=False)
        states = list(SubmissionState)
        for st in states:
            pipe.zcard(state_index_key(st.value))
        return {st: int(n) for st, n in zip(states, pipe.execute(), strict=True) if n}
