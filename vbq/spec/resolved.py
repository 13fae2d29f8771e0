"""The create request a spec resolves to, and the label that ties a Vertex job to its submission."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from vbq.errors import SpecError
from vbq.spec.labels import SUBMISSION_LABEL
from vbq.spec.protos import ApiVersion

__all__ = ["JobTarget", "ResolvedRequest", "with_submission_label"]

_SUBMISSION_ID_RE = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, kw_only=True)
class JobTarget:
    """Where a spec's job runs and on which model (the cheap half of resolving a spec).

    Attributes:
        project: the project the job is created in.
        location: the region the job is created in.
        model: the resolved model resource name.
    """

    project: str
    location: str
    model: str


@dataclass(frozen=True, kw_only=True)
class ResolvedRequest:
    """Everything the submit task needs to call ``batchPredictionJobs.create``.

    Attributes:
        project: the project the job is created in.
        location: the region the job is created in.
        parent: ``projects/{project}/locations/{location}``.
        api_version: ``"v1"``, or ``"v1beta1"`` when the spec enables model monitoring.
        body: the REST ``BatchPredictionJob`` as Google's SDK sends it (camelCase, enums as
            integers, defaults omitted), without the ``vbq-submission`` label.
        model: the resolved model resource name (per-model concurrency caps key on it).
        timeout_s: ``create_request_timeout`` in seconds, or ``None`` for the client default.
    """

    project: str
    location: str
    parent: str
    api_version: ApiVersion
    body: dict[str, Any] = field(hash=False)
    model: str
    timeout_s: float | None = None


def with_submission_label(body: dict[str, Any], submission_id: str) -> dict[str, Any]:
    """A deep copy of ``body`` with ``labels["vbq-submission"] = submission_id``.

    Args:
        body: a request body from :attr:`ResolvedRequest.body`; it is not modified.
        submission_id: 32 lowercase hex characters (a valid label value).

    Raises:
        SpecError: ``submission_id`` is not 32 lowercase hex characters (field
            ``submission_id``).
    """
    if not isinstance(submission_id, str) or not _SUBMISSION_ID_RE.fullmatch(submission_id):
        raise SpecError.single("submission_id", "format", "must be 32 lowercase hex characters")
    labelled = copy.deepcopy(body)
    labels = dict(labelled.get("labels") or {})
    labels[SUBMISSION_LABEL] = submission_id
    labelled["labels"] = dict(sorted(labels.items()))
    return labelled
