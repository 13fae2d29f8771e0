"""Resource names of the Google surface: job ids are submission ids written in decimal.

A vbq submission id is 128 random (or key-derived) bits as 32 hex digits. Its job id on the
Google surface is the same number in decimal (at most 39 digits), so that

* the name is stable from the create answer on, before Vertex has a job, and the same for a
  submission made through any door (``POST /v1/submissions``, ``Client.submit``, the bridge);
* name → submission is a pure function: no lookup key, no collision, nothing to keep in sync;
* it passes both SDKs' checks: google-genai accepts a bare job id only when it is all digits
  (``t_batch_job_name``: ``name.isdigit()``), the aiplatform SDK any ``[\\w-]+``.

Google's own ids are int64 in decimal (up to 19 digits); clients keep job ids as strings (both
SDKs do), so the longer number only matters to code that stores them in an INT64 column.
"""

from __future__ import annotations

import re

__all__ = [
    "API_VERSIONS",
    "job_id",
    "job_name",
    "operation_name",
    "parent_of",
    "submission_id_of",
]

API_VERSIONS: tuple[str, ...] = ("v1", "v1beta1")
"""The REST versions served (google-genai uses ``v1beta1`` by default, aiplatform ``v1``)."""

_MAX_ID = 1 << 128
_DECIMAL_RE = re.compile(r"^(?:0|[1-9][0-9]{0,38})$")


def job_id(submission_id: str) -> str:
    """The job id of a submission (its 32 hex digits as a decimal number)."""
    return str(int(submission_id, 16))


def submission_id_of(job_id_text: str) -> str | None:
    """The submission id of a job id, or None when the text is no job id of ours (leading
    zeros, other characters, too large: each id has exactly one spelling)."""
    if not _DECIMAL_RE.fullmatch(job_id_text):
        return None
    value = int(job_id_text)
    return format(value, "032x") if value < _MAX_ID else None


def parent_of(project: str, location: str) -> str:
    """``projects/{project}/locations/{location}``."""
    return f"projects/{project}/locations/{location}"


def job_name(project: str, location: str, submission_id: str) -> str:
    """``projects/{p}/locations/{l}/batchPredictionJobs/{job id}``."""
    return f"{parent_of(project, location)}/batchPredictionJobs/{job_id(submission_id)}"


def operation_name(project: str, location: str, submission_id: str) -> str:
    """The name of the delete operation of a job (its job id under ``operations/``)."""
    return f"{parent_of(project, location)}/operations/{job_id(submission_id)}"
