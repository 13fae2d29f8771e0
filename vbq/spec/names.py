"""Google resource names in a spec: projects, regions, models, KMS keys, service accounts.

Model names follow the SDK (``jobs.BatchPredictionJob._submit_impl`` with
``utils.full_resource_name``):

* ``projects/{p}/locations/{l}/models/{id}[@version]`` is kept as given;
* a bare ID ``{id}[@version]`` becomes ``projects/{project}/locations/{location}/models/{id}...``
  with the job's project and location;
* ``publishers/{publisher}/models/{model}[@version]`` and
  ``projects/{p}/locations/{l}/publishers/{publisher}/models/{model}`` are kept as given;
* a bare publisher model name such as ``gemini-2.0-flash-001`` is refused, as the SDK refuses
  it (a ``.`` is not allowed in a model ID): write
  ``publishers/google/models/gemini-2.0-flash-001``.

Where vbq is stricter than the SDK: every segment must be well formed (the SDK's patterns take
any text, ``/`` included), and a model name naming a region other than the job's is refused
(Vertex runs a batch job next to its model).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "KMS_KEY_RE",
    "LOCATION_RE",
    "MACHINE_TYPE_RE",
    "PROJECT_RE",
    "SERVICE_ACCOUNT_RE",
    "ModelName",
    "parse_model_name",
]

# Project IDs (6-30 chars), legacy domain-scoped IDs (example.com:my-proj), or project numbers.
PROJECT_RE = re.compile(
    r"(?:[a-z][a-z0-9.-]{0,62}[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20}"
)
# us-central1, europe-west4, northamerica-northeast1, plus Vertex's global and multi-region
# jurisdictions (us, eu).
LOCATION_RE = re.compile(r"global|us|eu|[a-z]{2,20}(?:-[a-z]{2,20})+[0-9]{1,2}")
_ID = r"[A-Za-z0-9_-]{1,128}"
_PUBLISHER_MODEL = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_VERSION = r"@[A-Za-z0-9_.-]{1,128}"
_PROJECT = PROJECT_RE.pattern
_LOCATION = LOCATION_RE.pattern

_BARE_ID_RE = re.compile(rf"(?P<id>{_ID})(?P<version>@{_ID})?")
_FULL_MODEL_RE = re.compile(
    rf"projects/(?P<project>{_PROJECT})/locations/(?P<location>{_LOCATION})"
    rf"/models/(?P<id>{_ID})(?P<version>@{_ID})?"
)
_PUBLISHER_RE = re.compile(
    rf"(?:projects/(?P<project>{_PROJECT})/locations/(?P<location>{_LOCATION})/)?"
    rf"publishers/(?P<publisher>[a-z0-9][a-z0-9_-]{{0,62}})"
    rf"/models/(?P<model>{_PUBLISHER_MODEL})(?P<version>{_VERSION})?"
)

KMS_KEY_RE = re.compile(
    rf"projects/(?P<project>{_PROJECT})/locations/(?P<location>{_LOCATION})"
    r"/keyRings/[A-Za-z0-9_-]{1,63}/cryptoKeys/[A-Za-z0-9_-]{1,63}"
)
# Service accounts are e-mail addresses: name@project.iam.gserviceaccount.com and the like.
SERVICE_ACCOUNT_RE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,63}"
)
# n1-standard-4, a2-highgpu-1g, ct5lp-hightpu-4t, g2-standard-8, e2-custom-4-8192.
MACHINE_TYPE_RE = re.compile(r"[a-z0-9]{1,20}(?:-[a-z0-9]{1,20}){0,6}")


@dataclass(frozen=True, kw_only=True)
class ModelName:
    """A parsed ``model_name``.

    Attributes:
        kind: ``"id"`` (bare ID, needs the job's project and location), ``"model"`` (a full
            Model resource name) or ``"publisher"`` (a Model Garden publisher model).
        text: the name as the caller gave it.
        location: the region the name carries, or ``None``.
    """

    kind: Literal["id", "model", "publisher"]
    text: str
    location: str | None

    def resolve(self, *, project: str, location: str) -> str:
        """The resource name sent as ``model``, expanding a bare ID like the SDK does."""
        if self.kind == "id":
            return f"projects/{project}/locations/{location}/models/{self.text}"
        return self.text


def parse_model_name(text: str) -> ModelName | None:
    """Parse ``text`` as one of the accepted model name forms, or ``None`` when malformed."""
    full = _FULL_MODEL_RE.fullmatch(text)
    if full:
        return ModelName(kind="model", text=text, location=full["location"])
    publisher = _PUBLISHER_RE.fullmatch(text)
    if publisher:
        return ModelName(kind="publisher", text=text, location=publisher["location"])
    if _BARE_ID_RE.fullmatch(text):
        return ModelName(kind="id", text=text, location=None)
    return None


def model_name_hint(text: str) -> str:
    """A hint for a refused model name: the SDK's forms, and the fix for bare Gemini names."""
    if "/" not in text and "." in text:
        return (
            "a bare model ID may not contain '.'; for a publisher model write "
            f"'publishers/google/models/{text}'"
        )
    return (
        "expected a model ID ('456', '456@2'), 'projects/P/locations/L/models/ID[@VERSION]' "
        "or 'publishers/PUBLISHER/models/MODEL'"
    )
