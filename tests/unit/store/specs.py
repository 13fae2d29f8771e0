"""Small valid job specs for the store's tests."""

from __future__ import annotations

import dataclasses
from typing import Any

from vbq.spec import JobSpec

MODEL = "publishers/google/models/gemini-2.0-flash-001"


def make_spec(
    display_name: str = "job", labels: dict[str, str] | None = None, **kw: Any
) -> JobSpec:
    """A valid spec; different display names give different fingerprints."""
    return JobSpec.from_sdk_kwargs(
        model_name=kw.pop("model_name", MODEL),
        job_display_name=display_name,
        gcs_source="gs://bucket-in/data.jsonl",
        gcs_destination_prefix="gs://bucket-out/run",
        labels=labels,
        **kw,
    )


def make_specs(n: int, prefix: str = "j", labels: dict[str, str] | None = None) -> list[JobSpec]:
    """``n`` distinct valid specs, cheaply: one validated spec, copied with new display names
    (validation costs about a millisecond per spec, too much for throughput tests)."""
    base = make_spec(prefix, labels=labels)
    return [dataclasses.replace(base, job_display_name=f"{prefix}{i}") for i in range(n)]
