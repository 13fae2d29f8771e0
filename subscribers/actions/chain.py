"""Chain jobs: when one finishes, submit the next through :class:`vbq.producers.Client`.

The follow-up's idempotency key is ``chain:{event_id}:{stage}``: a redelivered event (or a
handler that crashed after submitting) maps to the same submission, so a stage is submitted at
most once per parent event. The follow-up carries ``metadata = {"parent_submission_id",
"parent_event_id", "chain_stage", ...}`` into all of its own events.

Stage 2 usually reads stage 1's predictions::

    @handler("job.succeeded")
    def next_stage(event: JobEvent) -> None:
        chain(event, lambda e: from_outputs(e, model_name=M, gcs_destination_prefix=OUT),
              stage="stage2")
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from vbq.errors import SpecError
from vbq.events import JobEvent
from vbq.forksafe import PerProcess
from vbq.producers import Client, Submission
from vbq.subscribers.actions.outputs import output_directory

__all__ = [
    "Chain",
    "chain",
    "chain_idempotency_key",
    "default_client",
    "from_outputs",
    "outputs_source",
]

BuildFn = Callable[[JobEvent], Mapping[str, Any] | None]
_STAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_RESERVED = ("idempotency_key", "tenant")
_clients: PerProcess[Client] = PerProcess(Client.from_env)


def default_client() -> Client:
    """A process-wide :class:`vbq.producers.Client` from the environment (built on first use).

    Raises:
        ConfigError: the ``VBQ_*`` environment is malformed.
    """
    return _clients.get()


def chain_idempotency_key(event: JobEvent, stage: str) -> str:
    """``chain:{event_id}:{stage}``.

    Raises:
        SpecError: ``stage`` is not 1-64 letters, digits, ``_``, ``.`` or ``-``.
    """
    if not _STAGE_RE.fullmatch(stage):
        raise SpecError.single(
            "stage", "pattern", f"stage must match {_STAGE_RE.pattern}, got {stage!r}"
        )
    return f"chain:{event.event_id}:{stage}"


def outputs_source(event_or_job: Any, *, pattern: str = "predictions*.jsonl") -> str:
    """``{gcsOutputDirectory}/{pattern}``: the parent's prediction files as a ``gcs_source``.

    Raises:
        OutputsError: the parent did not (partially) succeed or wrote no Cloud Storage output.
    """
    return f"{output_directory(event_or_job)}/{pattern}"


def from_outputs(
    event_or_job: Any, *, pattern: str = "predictions*.jsonl", **sdk_kwargs: Any
) -> dict[str, Any]:
    """SDK keyword arguments of a stage that reads the parent's predictions.

    Sets ``gcs_source`` (see :func:`outputs_source`) and, unless given, ``instances_format``
    from the pattern's extension (``jsonl`` or ``csv``).

    Raises:
        OutputsError: as :func:`outputs_source`.
    """
    out = dict(sdk_kwargs)
    out["gcs_source"] = outputs_source(event_or_job, pattern=pattern)
    out.setdefault("instances_format", "csv" if pattern.endswith(".csv") else "jsonl")
    return out


def chain(
    event: JobEvent,
    build: BuildFn,
    *,
    stage: str = "next",
    client: Client | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Submission | None:
    """Submit the follow-up job that ``build(event)`` describes, once per event and stage.

    Args:
        event: the parent's event (usually ``job.succeeded``).
        build: returns the follow-up's SDK keyword arguments, or None to submit nothing.
            It may include ``metadata`` (merged under the parent keys); ``idempotency_key``
            and ``tenant`` are set here and refused from ``build``.
        stage: the follow-up's name, unique per parent (part of the idempotency key).
        client: the producers client (default: :func:`default_client`).
        metadata: extra metadata for the follow-up.

    Returns:
        The follow-up's :class:`Submission` (``created`` False on a redelivery), or None.

    Raises:
        SpecError: the follow-up spec is invalid, ``stage`` is malformed, or ``build``
            set a reserved key.
        IdempotencyConflictError: this event and stage already submitted a different spec
            (``build`` is not deterministic).
    """
    key = chain_idempotency_key(event, stage)
    built = build(event)
    if built is None:
        return None
    kwargs = dict(built)
    reserved = [k for k in _RESERVED if k in kwargs]
    if reserved:
        raise SpecError.single(reserved[0], "reserved", f"chain sets {reserved[0]} itself")
    meta = {
        **dict(metadata or {}),
        **dict(kwargs.pop("metadata", None) or {}),
        "parent_submission_id": event.submission_id,
        "parent_event_id": event.event_id,
        "chain_stage": stage,
    }
    parent_meta = event.request.metadata
    if "chain_root_submission_id" in parent_meta:
        meta["chain_root_submission_id"] = parent_meta["chain_root_submission_id"]
    else:
        meta["chain_root_submission_id"] = event.submission_id
    return (client or default_client()).submit(
        idempotency_key=key, tenant=event.request.tenant, metadata=meta, **kwargs
    )


class Chain:
    """Handler form of :func:`chain`: ``Chain(build=..., stage="stage2")(event)``.

    Args:
        build: see :func:`chain`.
        stage: the follow-up's name.
        client: the producers client (default: :func:`default_client`, built on first use).
        metadata: extra metadata for every follow-up.
        name: stable handler name (default ``chain-{stage}``).

    Raises:
        SpecError: ``stage`` is malformed.
    """

    def __init__(
        self,
        *,
        build: BuildFn,
        stage: str = "next",
        client: Client | None = None,
        metadata: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        if not _STAGE_RE.fullmatch(stage):
            raise SpecError.single("stage", "pattern", f"stage must match {_STAGE_RE.pattern}")
        self.build = build
        self.stage = stage
        self.client = client
        self.metadata = dict(metadata or {})
        self.name = name or f"chain-{stage}"
        self.__qualname__ = f"Chain[{self.name}]"

    def __repr__(self) -> str:
        return f"Chain(name={self.name!r}, stage={self.stage!r})"

    def __call__(self, event: JobEvent) -> None:
        """Submit the follow-up (once per event; see :func:`chain`)."""
        chain(event, self.build, stage=self.stage, client=self.client, metadata=self.metadata)
