"""Wire formats of the Vertex REST API: enum encodings, timestamps, error bodies.

Google's REST transport asks for ``$alt=json;enum-encoding=int``; then every enum in the
request and the response is an integer. Plain clients send and expect ``JOB_STATE_*`` names.
The emulator stores names and converts on the way out (:func:`encode_job`).

Errors travel as :class:`~vbq_emulators.errors.ApiError` (``status_code`` + Google's ``status``)
inside the emulator and leave as Google's JSON (:func:`error_body`).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from vbq.states import JobState
from vbq_emulators.errors import ApiError

__all__ = [
    "ACCELERATOR_TYPES",
    "api_error",
    "decode_enums",
    "encode_job",
    "error_body",
    "output_dir_timestamp",
    "rfc3339",
    "wants_int_enums",
]

ACCELERATOR_TYPES: dict[str, int] = {
    "ACCELERATOR_TYPE_UNSPECIFIED": 0,
    "NVIDIA_TESLA_K80": 1,
    "NVIDIA_TESLA_P100": 2,
    "NVIDIA_TESLA_V100": 3,
    "NVIDIA_TESLA_P4": 4,
    "NVIDIA_TESLA_T4": 5,
    "TPU_V2": 6,
    "TPU_V3": 7,
    "NVIDIA_TESLA_A100": 8,
    "NVIDIA_A100_80GB": 9,
    "TPU_V4_POD": 10,
    "NVIDIA_L4": 11,
    "TPU_V5_LITEPOD": 12,
    "NVIDIA_H100_80GB": 13,
    "NVIDIA_H100_MEGA_80GB": 14,
    "NVIDIA_H200_141GB": 15,
    "NVIDIA_B200": 16,
    "NVIDIA_GB200": 17,
    "NVIDIA_RTX_PRO_6000": 18,
}
"""``google.cloud.aiplatform.v1.AcceleratorType`` (the only enum a create body carries)."""
_ACCELERATOR_NAMES = {v: k for k, v in ACCELERATOR_TYPES.items()}

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}


def wants_int_enums(query: dict[str, list[str]]) -> bool:
    """True when ``$alt`` (or ``alt``) asks for ``enum-encoding=int``."""
    for key in ("$alt", "alt"):
        for value in query.get(key, []):
            if "enum-encoding=int" in value.replace(" ", ""):
                return True
    return False


def api_error(
    status_code: int, message: str, *, status: str = "", retry_after_s: float | None = None
) -> ApiError:
    """An :class:`ApiError` the server turns into Google's error JSON.

    Args:
        status_code: HTTP status (400, 404, 429, ...).
        message: Google-style message; name the field for INVALID_ARGUMENT.
        status: canonical status name; default from the HTTP status.
        retry_after_s: seconds for a ``Retry-After`` header (429/503), if any.
    """
    return ApiError(
        message,
        status_code=status_code,
        status=status or _STATUS_NAMES.get(status_code, "UNKNOWN"),
        retry_after_s=retry_after_s,
    )


def error_body(err: ApiError) -> dict[str, Any]:
    """Google's JSON error envelope ``{"error": {"code", "message", "status"}}``."""
    return {"error": {"code": err.status_code, "message": err.message, "status": err.status}}


def decode_enums(body: dict[str, Any]) -> None:
    """Turn integer enums of a create body into names, in place (unknown ints stay ints)."""
    spec = body.get("dedicatedResources")
    machine = spec.get("machineSpec") if isinstance(spec, dict) else None
    if isinstance(machine, dict) and isinstance(machine.get("acceleratorType"), int):
        value = machine["acceleratorType"]
        machine["acceleratorType"] = _ACCELERATOR_NAMES.get(value, value)


def encode_job(resource: dict[str, Any], *, int_enums: bool) -> dict[str, Any]:
    """The resource as sent to the client: a deep copy, enums as ints when asked."""
    out = copy.deepcopy(resource)
    if int_enums:
        out["state"] = int(JobState[out.get("state", "JOB_STATE_UNSPECIFIED")])
        machine = out.get("dedicatedResources", {}).get("machineSpec")
        if isinstance(machine, dict) and isinstance(machine.get("acceleratorType"), str):
            machine["acceleratorType"] = ACCELERATOR_TYPES.get(machine["acceleratorType"], 0)
    return out


def rfc3339(epoch_s: float) -> str:
    """``2024-01-01T00:00:00.123456Z`` for an epoch time in seconds (Google's format)."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def output_dir_timestamp(epoch_s: float) -> str:
    """``2024-01-01T00:00:00.123Z``: the create time inside ``prediction-{model}-{time}``.

    Google's batch prediction docs: "Its name is prediction-<model-display-name>-<job-create-time>,
    where timestamp is in YYYY-MM-DDThh:mm:ss.sssZ ISO-8601 format."
    """
    moment = datetime.fromtimestamp(epoch_s, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def stamp_micros(epoch_s: float) -> str:
    """``2024-01-01T00:00:00.123456Z``: the time inside a Gemini job's ``prediction-model-{time}``
    output directory (Google writes microseconds there)."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
