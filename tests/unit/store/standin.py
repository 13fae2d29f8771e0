"""A tiny stand-in for ``vbq.spec.JobSpec`` until the real one lands (store tests only)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class StandInResolved:
    project: str
    location: str
    model: str | None


@dataclass(frozen=True, kw_only=True)
class StandInSpec:
    display_name: str = "job"
    model_name: str = "publishers/google/models/gemini-2.0-flash-001"
    project: str | None = None
    location: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> StandInSpec:
        return cls(**json.loads(text))

    def fingerprint(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def resolve(self, *, default_project: str, default_location: str) -> StandInResolved:
        return StandInResolved(
            project=self.project or default_project,
            location=self.location or default_location,
            model=self.model_name,
        )
