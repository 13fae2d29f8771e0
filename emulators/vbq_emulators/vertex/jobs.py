"""The emulator's jobs: an in-memory store and the lifecycle clock.

A job is created PENDING (QUEUED for Gemini models), turns RUNNING after ``queued_s`` and
finishes after ``run_s`` (both times ``time_scale``). On RUNNING the toy model really runs in a
small thread pool (:mod:`vbq_emulators.vertex.toy_model`); the job is never reported finished
before its outputs are written: it finishes at ``max(start + run_s, outputs written)``.

The planned outcome is fixed at create time (:mod:`vbq_emulators.vertex.job`), and list pages
are bound to their query (:mod:`vbq_emulators.vertex.paging`).

Cancel: PENDING/QUEUED/RUNNING turn CANCELLING and CANCELLED after ``cancel_s``; a job whose
outputs are already written (finishing) ends with its real outcome. Cancelling a finished job
is 400 FAILED_PRECONDITION. Delete of a finished job returns an ``Operation`` that is done
after ``delete_s``; delete of an unfinished job is 400 FAILED_PRECONDITION, as Google answers.
"""

from __future__ import annotations

import copy
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from vbq.states import JobState
from vbq_emulators.vertex.config import EmulatorConfig
from vbq_emulators.vertex.filters import Predicate
from vbq_emulators.vertex.job import EmulatedJob, finished_state, planned_outcome
from vbq_emulators.vertex.operations import OperationBook
from vbq_emulators.vertex.paging import page_token_for, query_fingerprint, read_page_token
from vbq_emulators.vertex.scheduler import Scheduler
from vbq_emulators.vertex.toy_model import output_location, run_job
from vbq_emulators.vertex.validation import is_gemini_model
from vbq_emulators.vertex.wire import api_error, rfc3339

__all__ = ["JobStore", "planned_outcome"]

_S = JobState
_WAITING = {_S.JOB_STATE_PENDING, _S.JOB_STATE_QUEUED}


class JobStore:
    """Every emulated job and delete operation; thread-safe (one lock)."""

    def __init__(self, *, config: Callable[[], EmulatorConfig], runner_threads: int = 4) -> None:
        """Args:
        config: returns the current config (read at each create and step).
        runner_threads: threads that run the toy model.
        """
        self._config = config
        self._lock = threading.RLock()
        self._scheduler = Scheduler()
        self._pool = ThreadPoolExecutor(max_workers=runner_threads, thread_name_prefix="vemu-run")
        self._generation = 0
        self._init_state()

    def _init_state(self) -> None:
        self._order: list[EmulatedJob] = []
        self._by_name: dict[str, EmulatedJob] = {}
        self._ops = OperationBook()
        self._states: Counter[str] = Counter()
        self._rng = random.Random(self._config().seed)

    def close(self) -> None:
        """Stop the clock and the runner threads."""
        self._scheduler.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def reset(self) -> None:
        """Forget every job and operation; pending lifecycle steps are dropped."""
        with self._lock:
            self._scheduler.clear()
            self._generation += 1
            self._init_state()

    # -- queries --------------------------------------------------------------------------
    def unfinished_count(self) -> int:
        """Jobs not in a finished state (the ``max_concurrent_jobs`` quota counts these)."""
        with self._lock:
            return sum(n for s, n in self._states.items() if not JobState[s].finished)

    def state_counts(self) -> dict[str, int]:
        """Live (not deleted) jobs per state name."""
        with self._lock:
            return {k: v for k, v in self._states.items() if v}

    def created_count(self) -> int:
        """Jobs created since the last reset (deleted ones included)."""
        with self._lock:
            return len(self._order)

    def job_count(self) -> int:
        """Live (not deleted) jobs."""
        with self._lock:
            return len(self._by_name)

    def all_jobs(self) -> list[dict[str, Any]]:
        """Every job created since the last reset, deleted ones marked ``"_deleted": true``."""
        with self._lock:
            out = []
            for job in self._order:
                resource = copy.deepcopy(job.resource)
                if job.deleted:
                    resource["_deleted"] = True
                out.append(resource)
            return out

    def get(self, name: str) -> dict[str, Any]:
        """A copy of the job resource.

        Raises:
            ApiError: 404 NOT_FOUND.
        """
        with self._lock:
            return copy.deepcopy(self._find(name).resource)

    def _find(self, name: str) -> EmulatedJob:
        job = self._by_name.get(name)
        if job is None:
            raise api_error(404, f'The BatchPredictionJob "{name}" does not exist.')
        return job

    def list(
        self,
        parent: str,
        predicate: Predicate,
        *,
        page_size: int,
        page_token: str,
        filter_text: str,
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of jobs under ``parent``, newest first, and the next page token ('' at end).

        Raises:
            ApiError: 400 INVALID_ARGUMENT for a token from another filter or reset.
        """
        fingerprint = query_fingerprint(parent, filter_text)
        with self._lock:
            start = len(self._order) - 1
            if page_token:
                start = (
                    read_page_token(page_token, self._generation, fingerprint, len(self._order)) - 1
                )
            page: list[dict[str, Any]] = []
            index = start
            more = False
            last_seq = 0
            while index >= 0:
                job = self._order[index]
                index -= 1
                if job.deleted or job.parent != parent or not predicate(job.view()):
                    continue
                if len(page) == page_size:
                    more = True
                    break
                page.append(copy.deepcopy(job.resource))
                last_seq = job.seq
            token = page_token_for(self._generation, last_seq, fingerprint) if more else ""
            return page, token

    # -- create ---------------------------------------------------------------------------
    def create(self, parent: str, body: dict[str, Any], *, api_version: str) -> dict[str, Any]:
        """Store a validated job and start its clock; returns the resource (a copy)."""
        config = self._config()
        now = time.time()
        with self._lock:
            job_id = str(self._rng.randrange(10**18, 10**19))
            while f"{parent}/batchPredictionJobs/{job_id}" in self._by_name:
                job_id = str(self._rng.randrange(10**18, 10**19))
            name = f"{parent}/batchPredictionJobs/{job_id}"
            gemini = is_gemini_model(str(body.get("model", "")))
            state = _S.JOB_STATE_QUEUED if gemini else _S.JOB_STATE_PENDING
            resource: dict[str, Any] = {"name": name, **copy.deepcopy(body)}
            resource.update(state=state.name, createTime=rfc3339(now), updateTime=rfc3339(now))
            job = EmulatedJob(
                seq=len(self._order),
                name=name,
                parent=parent,
                api_version=api_version,
                resource=resource,
                created_s=now,
                updated_s=now,
                planned=planned_outcome(job_id, config),
                run_s=config.scaled(config.run_s),
                cancel_s=config.scaled(config.cancel_s),
                generation=self._generation,
                labels=dict(body.get("labels") or {}),
            )
            self._order.append(job)
            self._by_name[name] = job
            self._states[state.name] += 1
            self._scheduler.at(now + config.scaled(config.queued_s), lambda: self._start(job))
            return copy.deepcopy(resource)

    def _set_state(self, job: EmulatedJob, state: JobState, **fields: Any) -> None:
        now = time.time()
        if not job.deleted:
            self._states[job.resource["state"]] -= 1
            self._states[state.name] += 1
        job.resource["state"] = state.name
        job.resource.update(fields)
        job.updated_s = now
        job.resource["updateTime"] = rfc3339(now)
        if state.finished:
            job.resource["endTime"] = rfc3339(now)

    # -- lifecycle ------------------------------------------------------------------------
    def _start(self, job: EmulatedJob) -> None:
        with self._lock:
            if job.generation != self._generation or job.state not in _WAITING:
                return
            now = time.time()
            if job.planned == "expire":
                self._set_state(
                    job,
                    _S.JOB_STATE_EXPIRED,
                    error={"code": 4, "message": "The batch prediction job expired in the queue."},
                )
                return
            info = output_location(job.resource, job.created_s)
            self._set_state(job, _S.JOB_STATE_RUNNING, startTime=rfc3339(now))
            if info:
                job.resource["outputInfo"] = info
            due = now + job.run_s
            if job.planned == "fail":
                self._scheduler.at(due, lambda: self._fail(job))
                return
            snapshot = copy.deepcopy(job.resource)
        self._pool.submit(self._run, job, snapshot, info, due, self._config())

    def _fail(self, job: EmulatedJob) -> None:
        with self._lock:
            if job.generation != self._generation or job.state is _S.JOB_STATE_CANCELLED:
                return
            if job.state in {_S.JOB_STATE_RUNNING, _S.JOB_STATE_CANCELLING}:
                error = {"code": 13, "message": "Internal error (injected by the emulator)."}
                self._set_state(job, _S.JOB_STATE_FAILED, error=error)

    def _run(
        self,
        job: EmulatedJob,
        snapshot: dict[str, Any],
        info: dict[str, str],
        due: float,
        config: EmulatorConfig,
    ) -> None:
        result = run_job(
            snapshot, output_info=info, inject_partial=job.planned == "partial", config=config
        )
        with self._lock:
            if job.generation != self._generation:
                return
            job.result = result
            self._scheduler.at(max(due, time.time()), lambda: self._complete(job))

    def _complete(self, job: EmulatedJob) -> None:
        with self._lock:
            result = job.result
            if result is None or job.state not in {_S.JOB_STATE_RUNNING, _S.JOB_STATE_CANCELLING}:
                return
            state, fields = finished_state(job, result)
            self._set_state(job, state, **fields)

    # -- cancel / delete ------------------------------------------------------------------
    def cancel(self, name: str) -> None:
        """Start cancelling a job.

        Raises:
            ApiError: 404 NOT_FOUND, or 400 FAILED_PRECONDITION for a finished job.
        """
        with self._lock:
            job = self._find(name)
            if job.state.finished:
                raise api_error(
                    400,
                    f'The BatchPredictionJob "{name}" is in state {job.state.name} '
                    "and cannot be cancelled.",
                    status="FAILED_PRECONDITION",
                )
            if job.state is _S.JOB_STATE_CANCELLING:
                return
            self._set_state(job, _S.JOB_STATE_CANCELLING)
            self._scheduler.at(time.time() + job.cancel_s, lambda: self._cancelled(job))

    def _cancelled(self, job: EmulatedJob) -> None:
        with self._lock:
            if job.generation != self._generation or job.state is not _S.JOB_STATE_CANCELLING:
                return
            if job.result is not None:
                return  # outputs are written: the job finishes anyway (_complete)
            self._set_state(job, _S.JOB_STATE_CANCELLED, error={"code": 1, "message": "CANCELED"})

    def delete(self, name: str) -> dict[str, Any]:
        """Delete a finished job; returns the ``Operation`` resource.

        Raises:
            ApiError: 404 NOT_FOUND, or 400 FAILED_PRECONDITION for an unfinished job.
        """
        config = self._config()
        with self._lock:
            job = self._find(name)
            if not job.state.finished:
                raise api_error(
                    400,
                    f'The BatchPredictionJob "{name}" is in state {job.state.name} and cannot '
                    "be deleted. Cancel it first or wait until it finishes.",
                    status="FAILED_PRECONDITION",
                )
            self._states[job.resource["state"]] -= 1
            job.deleted = True
            del self._by_name[name]
            op_id = str(self._rng.randrange(10**18, 10**19))
            return self._ops.add(
                f"{job.parent}/operations/{op_id}",
                api_version=job.api_version,
                done_after_s=config.scaled(config.delete_s),
            )

    def get_operation(self, name: str) -> dict[str, Any]:
        """The ``Operation`` of a delete (done once ``delete_s`` passed).

        Raises:
            ApiError: 404 NOT_FOUND.
        """
        with self._lock:
            return self._ops.get(name)
