"""What the job store needs from a job spec, as a Protocol.

The store only stores a spec (``to_json``), compares specs (``fingerprint``), reads the labels
to index them, and resolves project, location and model once at create time. Typing against
this Protocol keeps the store independent of how :class:`vbq.spec.JobSpec` is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

__all__ = ["ResolvedLike", "SpecLike", "SpecLoader", "default_spec_loader"]


class ResolvedLike(Protocol):
    """The part of :class:`vbq.spec.ResolvedRequest` the store reads."""

    @property
    def project(self) -> str: ...

    @property
    def location(self) -> str: ...

    @property
    def model(self) -> str | None: ...


class SpecLike(Protocol):
    """The part of :class:`vbq.spec.JobSpec` the store reads."""

    @property
    def labels(self) -> Mapping[str, str] | None: ...

    def to_json(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...

    def fingerprint(self) -> str: ...

    def resolve(self, *, default_project: str, default_location: str) -> ResolvedLike: ...


SpecLoader = Callable[[str], Any]
"""Turns the stored spec JSON back into a spec object (default: ``JobSpec.from_json``)."""


def default_spec_loader(text: str) -> Any:
    """Parse stored spec JSON with :meth:`vbq.spec.JobSpec.from_json`.

    Raises:
        SpecError: the stored JSON is no longer a valid spec.
    """
    import importlib

    # Imported late: the store must not import the spec package at import time.
    job_spec = importlib.import_module("vbq.spec").JobSpec
    return job_spec.from_json(text)
