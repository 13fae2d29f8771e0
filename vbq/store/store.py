"""The job store: submissions in Redis, changed only through atomic Lua scripts.

Keys: :mod:`vbq.store.keys` and docs/contracts.md § Job store.

Every write is one Lua call, so a state change, its index moves and its outbox event are
applied together or not at all, and every time comes from the Redis server's clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis as redis_lib

from vbq.errors import (
    IdempotencyConflictError,
    NotFoundError,
    StateConflictError,
    StoreError,
    TenantCapError,
)
from vbq.events import JobEvent
from vbq.redisconn import client_for
from vbq.settings import Settings
from vbq.spec import JobSpec
from vbq.states import FINISHED_SUBMISSION_STATES, SubmissionState
from vbq.store.creating import CreateCall, Creator
from vbq.store.durability import ReplicaWait
from vbq.store.keys import (
    OUTBOX_KEY,
    PREFIX,
    sub_key,
)
from vbq.store.reads import SubmissionReads
from vbq.store.records import (
    NewSubmission,
    SpecLoader,
    SubmissionRecord,
    decode_record,
    encode_updates,
    flat_pairs,
)
from vbq.store.removal import Remover, _text
from vbq.store.scripts import load_script

__all__ = ["IN_FLIGHT_STATES", "JobStore"]

IN_FLIGHT_STATES: frozenset[SubmissionState] = frozenset(
    {
        SubmissionState.SUBMITTED,
        SubmissionState.QUEUED,
        SubmissionState.PENDING,
        SubmissionState.RUNNING,
        SubmissionState.CANCELLING,
        SubmissionState.PAUSED,
        SubmissionState.UPDATING,
    }
)
"""States of a submission whose Vertex job exists and has not finished."""

_BEFORE_SUBMIT = frozenset({SubmissionState.ACCEPTED, SubmissionState.SUBMITTING})

_CREATE_CHUNK = 500


class JobStore(SubmissionReads):
    """Submissions in Redis (docs/contracts.md § Job store); the reads (``get``, ``list``,
    ``scan``, ...) are :class:`~vbq.store.reads.SubmissionReads`.

    Args:
        redis: a ``redis.Redis`` client (``decode_responses`` either way).
        settings: supplies the default project and location used to resolve specs.
        spec_loader: parses stored spec JSON (default: ``vbq.spec.JobSpec.from_json``).
    """

    def __init__(
        self,
        redis: redis_lib.Redis,
        *,
        settings: Settings,
        spec_loader: SpecLoader | None = None,
    ) -> None:
        self.redis = redis
        self.settings = settings
        self._load_spec: SpecLoader = spec_loader or JobSpec.from_json
        self._creator = Creator(settings=settings, spec_loader=self._load_spec)
        self._create = redis.register_script(load_script("create.lua"))
        self._replica_wait = ReplicaWait.from_settings(settings)
        self._update = redis.register_script(load_script("update.lua"))
        self.remover = Remover(redis, spec_loader=self._load_spec)
        """Deletes finished submissions; also tells whether one was deleted (tombstones)."""

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> JobStore:
        """A store on ``settings.redis_url`` with its own connection pool.

        Raises:
            ConfigError: a malformed ``redis+sentinel://`` URL.
        """
        client = client_for(settings, decode_responses=True)
        return cls(client, settings=settings, **kwargs)

    # -- create -------------------------------------------------------------------------------

    def create(self, new: NewSubmission) -> tuple[SubmissionRecord, bool]:
        """Store a new submission in state ACCEPTED, in one atomic Lua call.

        With ``VBQ_REDIS_WAIT_REPLICAS`` > 0 the call returns only once that many replicas
        hold the record (or an idempotent replay's earlier record), see
        :mod:`vbq.store.durability`.

        Returns:
            ``(record, created)``: ``created`` is False when the idempotency key was already
            bound to a submission with the same spec fingerprint (the existing record).

        Raises:
            IdempotencyConflictError: the key is bound to a submission with another spec.
            TenantCapError: the tenant is at its ``max_queued`` cap (nothing was written).
            SpecError: the spec cannot be resolved (no project, ...).
            ReplicationTimeoutError: too few replicas confirmed in time; the record is on the
                primary but not acknowledged (retry with the same idempotency key).
        """
        call = self._creator.prepare(new)
        if not self._replica_wait.enabled:
            return self._creator.result(call, self._create(keys=call.keys, args=call.args))
        return self._creator.result(call, self._run_creates([call])[0])

    def create_many(
        self, items: Iterable[NewSubmission], *, return_exceptions: bool = False
    ) -> list[tuple[SubmissionRecord, bool] | IdempotencyConflictError | TenantCapError]:
        """Create many submissions, pipelined 500 scripts per round trip.

        Each item has exactly the semantics of :meth:`create`; items are independent (one
        conflict does not stop the others from being stored).

        Args:
            items: the submissions, in order.
            return_exceptions: put an item's :class:`IdempotencyConflictError` or
                :class:`TenantCapError` in its place in the result instead of raising it after
                the whole batch was written.

        Returns:
            One ``(record, created)`` (or error, see ``return_exceptions``) per item, in order.

        Raises:
            IdempotencyConflictError: the first conflict, when ``return_exceptions`` is False.
            TenantCapError: the first item over its tenant's cap, likewise.
            SpecError: an item's spec cannot be resolved (nothing of the batch was written).
            ReplicationTimeoutError: too few replicas confirmed a chunk in time (see
                :meth:`create`); earlier chunks are stored, none is acknowledged.
        """
        batch = list(items)
        # Resolve every target first (cached, cheap): a spec that cannot be resolved fails
        # before anything of the batch is written.
        for item in batch:
            self._creator.target(item.spec)
        calls, replies = self._creator.run_chunked(batch, self._run_creates, chunk=_CREATE_CHUNK)
        out: list[tuple[SubmissionRecord, bool] | IdempotencyConflictError | TenantCapError] = []
        for call, reply in zip(calls, replies, strict=True):
            try:
                out.append(self._creator.result(call, reply))
            except (IdempotencyConflictError, TenantCapError) as exc:
                out.append(exc)
        if not return_exceptions:
            for result in out:
                if isinstance(result, IdempotencyConflictError | TenantCapError):
                    raise result
        return out

    def _run_creates(self, calls: Sequence[CreateCall]) -> list[Any]:
        # One pipeline = one connection, so WAIT covers these writes (vbq.store.durability).
        pipe = self.redis.pipeline(transaction=False)
        for call in calls:
            self._create(keys=call.keys, args=call.args, client=pipe)
        self._replica_wait.append(pipe)
        return self._replica_wait.check(pipe.execute())

    # -- delete -------------------------------------------------------------------------------

    def delete(self, submission_id: str, *, tenant: str | None = None) -> SubmissionRecord:
        """Delete a finished submission, queue its Vertex job for deletion at Google
        (:mod:`vbq.store.removal`); returns the record as it was.

        Raises:
            NotFoundError: no such submission (or not ``tenant``'s).
            StateConflictError: it has not finished.
        """
        return self.remover.delete(submission_id, tenant=tenant)

    # -- change -------------------------------------------------------------------------------

    def _update_call(
        self,
        submission_id: str,
        *,
        expected: Iterable[SubmissionState | str] | None,
        new_state: SubmissionState | str | None,
        updates: Mapping[str, Any] | None,
        event: JobEvent | None,
        incr_attempts: bool,
        compare: Mapping[str, str] | None = None,
    ) -> SubmissionRecord:
        expected_names = sorted({SubmissionState(s).value for s in expected or ()})
        if expected is not None and not expected_names:
            raise StoreError("expected must name at least one state")
        target = SubmissionState(new_state) if new_state is not None else None
        pairs: list[str] = []
        for name, value in encode_updates(updates).items():
            pairs += [name, value]
        for name, value in (compare or {}).items():
            pairs += [f"@{name}", value]
        args = [
            submission_id,
            PREFIX,
            target.value if target is not None else "",
            "1" if target in IN_FLIGHT_STATES else "0",
            "1" if target in FINISHED_SUBMISSION_STATES else "0",
            event.to_json() if event is not None else "",
            "1" if incr_attempts else "0",
            str(len(expected_names)),
            *expected_names,
            *pairs,
        ]
        reply = self._update(keys=[sub_key(submission_id), OUTBOX_KEY], args=args)
        status = _text(reply[0])
        if status == "ok":
            return decode_record(flat_pairs(reply[1]), spec_loader=self._load_spec)
        if status == "missing":
            raise NotFoundError(f"submission {submission_id} not found")
        if status == "conflict":
            actual = SubmissionState(_text(reply[1]))
            raise StateConflictError(submission_id, expected_names, actual)
        raise StoreError(f"unexpected update reply {reply!r}")

    def transition(
        self,
        submission_id: str,
        *,
        expected: Iterable[SubmissionState | str],
        new_state: SubmissionState | str,
        updates: Mapping[str, Any] | None = None,
        event: JobEvent | None = None,
    ) -> SubmissionRecord:
        """Move a submission to ``new_state`` if it is in one of ``expected``: ONE Lua call.

        Atomically: compare-and-set on the state, set ``updates`` (dicts such as ``job`` and
        ``metadata`` are stored as JSON; None clears a field; ``submitted_at`` is accepted but
        ignored, the store sets it from the Redis clock), bump ``version``, set
        ``updated_at`` from Redis ``TIME``, move the state index, add the submission to
        ``vbq:inflight:{project}:{location}`` when it enters SUBMITTED or a later unfinished
        state with a ``job_name`` (``submitted_at`` is set on the first such state), remove it
        and set ``finished_at`` on a finished state, and append ``event`` to ``vbq:outbox``.

        The event's ``previous_state`` is the caller's: pass a single expected state when an
        event depends on it.

        Returns:
            The record after the change.

        Raises:
            StateConflictError: the state is not in ``expected`` (carries the actual state).
            NotFoundError: no such submission.
            StoreError: ``expected`` is empty or an update names a field that cannot change.
        """
        return self._update_call(
            submission_id,
            expected=expected,
            new_state=new_state,
            updates=updates,
            event=event,
            incr_attempts=False,
        )

    def record_attempt(
        self,
        submission_id: str,
        error: str | None = None,
        *,
        expected: Iterable[SubmissionState | str] | None = None,
        new_state: SubmissionState | str | None = SubmissionState.SUBMITTING,
        expected_location: str | None = None,
    ) -> SubmissionRecord:
        """Count one more create attempt, atomically (one Lua call, like :meth:`transition`).

        The submit task calls it as an attempt starts: by default the submission also moves
        to SUBMITTING (no event: SUBMITTING publishes none), so "attempt counted" and "create
        may be in flight" are one step.

        Args:
            error: stored as ``last_error``; None keeps the previous one.
            expected: only if the state is one of these (compare-and-set). Default: ACCEPTED
                or SUBMITTING when moving to a new state (a finished or submitted record never
                goes back), any state when ``new_state`` is None.
            new_state: the state to move to; None keeps the state.
            expected_location: only if the record's ``location`` is this one (a submission
                with several acceptable locations may have been claimed by another place
                since the caller loaded it).

        Returns:
            The record after the change (``attempts`` already incremented).

        Raises:
            StateConflictError: the state is not in ``expected``.
            NotFoundError: no such submission.
        """
        if expected is None and new_state is not None:
            expected = _BEFORE_SUBMIT
        return self._update_call(
            submission_id,
            expected=expected,
            new_state=new_state,
            updates={"last_error": error} if error is not None else None,
            event=None,
            incr_attempts=True,
            compare={"location": expected_location} if expected_location is not None else None,
        )

    def touch(
        self,
        submission_id: str,
        *,
        expected: Iterable[SubmissionState | str] | None = None,
        updates: Mapping[str, Any] | None = None,
    ) -> SubmissionRecord:
        """Bump ``updated_at`` and ``version`` (and set ``updates``) without a state change.

        Raises:
            StateConflictError: ``expected`` was given and the state is not in it.
            NotFoundError: no such submission.
        """
        return self._update_call(
            submission_id,
            expected=expected,
            new_state=None,
            updates=updates,
            event=None,
            incr_attempts=False,
        )

    def close(self) -> None:
        """Close the Redis connection pool."""
        self.redis.close()
