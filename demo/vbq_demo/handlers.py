"""The demo's subscriber handlers: ``vbq subscribe --handler vbq_demo.handlers``.

- :func:`count_event` (every event): ``HINCRBY vbq:demo:{run}:runs {event_id} 1``, so the demo
  can prove each event ran its handlers exactly once (the inbox makes a redelivery a no-op).
- :func:`write_summary` (finished jobs): the built-in summary action, reading the output rows
  of (partially) succeeded jobs, one JSON line per job in ``VBQ_DEMO_SUMMARY_PATH``.
- :func:`chain_stage2` (``job.succeeded`` of stage-1 jobs marked ``demo_chain``): the built-in
  chain action submits a second stage that reads the parent's predictions; its idempotency
  key comes from the parent's event id, so a redelivery cannot submit it twice.

Configuration comes from the demo's environment through :class:`~vbq.settings.Settings`
(``VBQ_DEMO_SUMMARY_PATH``, ``VBQ_DEMO_OUTPUT_PREFIX`` land in ``Settings.extra``).
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import redis

from vbq.events import JobEvent
from vbq.redisconn import client_for
from vbq.settings import Settings
from vbq.subscribers import handler
from vbq.subscribers.actions.chain import Chain, from_outputs
from vbq.subscribers.actions.summary import JsonlFileSink, Summary

__all__ = [
    "FINISHED_EVENT_TYPES",
    "chain_stage2",
    "count_event",
    "runs_key",
    "stage2_request",
    "write_summary",
]

FINISHED_EVENT_TYPES = (
    "job.succeeded",
    "job.partially_succeeded",
    "job.failed",
    "job.cancelled",
    "job.expired",
    "job.rejected",
)
RUN_LABEL = "demo-run"
STAGE_LABEL = "demo-stage"
RUNS_TTL_S = 24 * 3600
_lock = threading.Lock()


def runs_key(run_id: str) -> str:
    """Redis hash of handler runs per event id of one demo run."""
    return f"vbq:demo:{run_id}:runs"


@cache
def _settings() -> Settings:
    return Settings.from_env()


@cache
def _redis() -> redis.Redis:
    return client_for(_settings(), health_check_interval=30)


@cache
def _summary() -> Summary:
    path = _settings().extra.get("VBQ_DEMO_SUMMARY_PATH", "vbq-demo-summaries.jsonl")
    return Summary(sink=JsonlFileSink(path=path), read_rows=True, name="demo-summary")


@cache
def _chain() -> Chain:
    return Chain(build=stage2_request, stage="stage2")


def stage2_request(event: JobEvent) -> dict[str, Any] | None:
    """SDK kwargs of the second stage of a ``demo_chain`` stage-1 job (None for others).

    Stage 2 runs the parent's model over the parent's predictions files; labels mark it as
    stage 2 of the same demo run. Deterministic, as the chain action requires.

    Raises:
        OutputsError: the parent wrote no Cloud Storage output.
    """
    meta = event.request.metadata
    if not meta.get("demo_chain") or "chain_stage" in meta:
        return None
    job = event.job or {}
    prefix = _settings().extra.get("VBQ_DEMO_OUTPUT_PREFIX", "gs://vbq-demo/outputs")
    labels = {k: v for k, v in event.request.labels.items() if not k.startswith("vbq-")}
    labels[STAGE_LABEL] = "2"
    name = f"{job.get('displayName') or event.submission_id}-stage2"[:128]
    return from_outputs(
        event,
        model_name=str(job.get("model") or ""),
        gcs_destination_prefix=f"{prefix.rstrip('/')}/stage2",
        predictions_format="jsonl",
        job_display_name=name,
        labels=labels,
    )


@handler("*")
def count_event(event: JobEvent) -> None:
    """Count this handler run of ``event`` (per demo run, by the ``demo-run`` label)."""
    run_id = event.request.labels.get(RUN_LABEL, "none")
    key = runs_key(run_id)
    pipe = _redis().pipeline(transaction=True)
    pipe.hincrby(key, event.event_id, 1)
    # A demo against a long-lived Redis (VBQ_REDIS_URL) should not leave counters forever.
    pipe.expire(key, RUNS_TTL_S)
    pipe.execute()


@handler(*FINISHED_EVENT_TYPES)
def write_summary(event: JobEvent) -> None:
    """Write the job's summary line (rows read from its outputs when it succeeded).

    Raises:
        OSError: the summary file cannot be written (the event is redelivered).
    """
    with _lock:
        summary = _summary()
    summary(event)


@handler("job.succeeded")
def chain_stage2(event: JobEvent) -> None:
    """Submit stage 2 of a ``demo_chain`` job, once per parent event.

    Raises:
        SpecError: the stage-2 request is invalid.
        IdempotencyConflictError: stage 2 was already submitted with another spec.
    """
    if event.request.metadata.get("demo_chain") and "chain_stage" not in event.request.metadata:
        _chain()(event)
