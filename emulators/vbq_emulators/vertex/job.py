"""One emulated job: its record, the outcome planned at create time, and how it finishes.

The planned outcome is fixed at create time from ``sha256(seed:job_id)``: the configured
shares end FAILED, PARTIALLY_SUCCEEDED or EXPIRED, so reruns with the same seed agree. A job
whose toy-model run completed ends in the state its results call for
(:func:`finished_state`), with ``completionStats`` as Google reports them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from vbq.states import JobState
from vbq_emulators.vertex.config import EmulatorConfig
from vbq_emulators.vertex.filters import JobView
from vbq_emulators.vertex.toy_model import RunResult, model_id
from vbq_emulators.vertex.validation import is_gemini_model

__all__ = ["EmulatedJob", "finished_state", "planned_outcome"]

_S = JobState
_MAX_PARTIAL_FAILURES = 20  # Google: "This field never exceeds 20 entries."


def planned_outcome(job_id: str, config: EmulatorConfig) -> str:
    """``fail``, ``partial``, ``expire`` or ``ok``: fixed by ``sha256(seed:job_id)``."""
    digest = hashlib.sha256(f"{config.seed}:{job_id}".encode()).hexdigest()
    u = int(digest[:13], 16) / float(16**13)
    for outcome, share in (
        ("fail", config.fail_share),
        ("partial", config.partial_share),
        ("expire", config.expire_share),
    ):
        if u < share:
            return outcome
        u -= share
    return "ok"


@dataclass(kw_only=True)
class EmulatedJob:
    """One emulated job: its resource as Google shows it, and the emulator's plan for it."""

    seq: int
    name: str
    parent: str
    api_version: str
    resource: dict[str, Any]
    created_s: float
    updated_s: float
    planned: str
    run_s: float
    cancel_s: float
    generation: int
    result: RunResult | None = None
    deleted: bool = False
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> JobState:
        """The job's current state."""
        return JobState[self.resource["state"]]

    def view(self) -> JobView:
        """What a list filter sees of the job."""
        return JobView(
            display_name=self.resource.get("displayName", ""),
            model_display_name=model_id(self.resource),
            state=self.resource["state"],
            create_time_s=self.created_s,
            update_time_s=self.updated_s,
            labels=self.labels,
        )


def finished_state(job: EmulatedJob, result: RunResult) -> tuple[JobState, dict[str, Any]]:
    """The final state of ``job`` after its run, and the resource fields that go with it."""
    stats = {
        "successfulCount": str(result.successful),
        "failedCount": str(result.failed),
        "incompleteCount": str(result.incomplete),
    }
    fields: dict[str, Any] = {"completionStats": stats}
    if result.partial_failures:
        fields["partialFailures"] = result.partial_failures[:_MAX_PARTIAL_FAILURES]
    if not is_gemini_model(str(job.resource.get("model", ""))):
        hours = max(job.updated_s - job.created_s, 0.0) / 3600.0
        fields["resourcesConsumed"] = {"replicaHours": round(hours, 6)}
    if result.error is not None:
        return _S.JOB_STATE_FAILED, {"error": result.error, **fields}
    if result.partial_failures:
        return _S.JOB_STATE_PARTIALLY_SUCCEEDED, fields
    if result.successful == 0 and result.failed > 0:
        error = {"code": 3, "message": f"All {result.failed} instances failed."}
        return _S.JOB_STATE_FAILED, {"error": error, **fields}
    return _S.JOB_STATE_SUCCEEDED, fields
