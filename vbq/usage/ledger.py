"""Per-tenant and per-model totals in Redis, added once per finished job.

Keys: ``vbq:usage:tenant:{tenant}`` and ``vbq:usage:model:{model}`` (hashes of integer fields
``prompt``, ``candidates``, ``thoughts``, ``cached``, ``total``, ``requests``, ``succeeded``,
``failed``, ``jobs`` and ``cost_micros``, the estimated cost in millionths of the table's
currency), and the sets ``vbq:usage:tenants`` / ``vbq:usage:models`` naming them. The
increments are applied by the job store's results script in the same Lua call that publishes
the job's finished event (:mod:`vbq.store.results`), so a job is counted exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis as redis_lib

from vbq.usage.tokens import Tokens

__all__ = ["COUNT_FIELDS", "UsageLedger", "UsageTotals", "increments"]

PREFIX = "vbq:usage:"
COUNT_FIELDS = ("requests", "succeeded", "failed", "jobs", "cost_micros")


@dataclass(frozen=True)
class UsageTotals:
    """One tenant's or model's totals."""

    name: str
    tokens: Tokens = field(default_factory=Tokens)
    requests: int = 0
    succeeded: int = 0
    failed: int = 0
    jobs: int = 0
    cost: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "name": self.name,
            "tokens": self.tokens.to_dict(),
            "requests": self.requests,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "jobs": self.jobs,
            "cost": round(self.cost, 6),
        }


def increments(results: Mapping[str, Any], *, tenant: str, model: str) -> list[str]:
    """``[kind, name, field, n, ...]`` quadruples for the results script.

    Per tenant from ``results["by_tenant"]`` when present (a pack of several tenants), else
    the whole job under ``tenant``; per model, the whole job.
    """
    out: list[str] = []
    by_tenant = results.get("by_tenant")
    entries = by_tenant.items() if isinstance(by_tenant, Mapping) and by_tenant else []
    tenants = list(entries) or [(tenant, results)]
    for name, part in tenants:
        out += _one("tenant", str(name), part)
    out += _one("model", model, results)
    return out


def _one(kind: str, name: str, part: Mapping[str, Any]) -> list[str]:
    tokens = Tokens.from_dict(part.get("usage"))
    values = {**tokens.to_dict()}
    for key in ("requests", "succeeded", "failed"):
        values[key] = int(part.get(key) or 0)
    values["jobs"] = 1
    cost = part.get("cost")
    values["cost_micros"] = round(float(cost) * 1_000_000) if isinstance(cost, int | float) else 0
    out: list[str] = []
    for key, n in values.items():
        if n:
            out += [kind, name, key, str(n)]
    return out


class UsageLedger:
    """Reads the totals (writes happen in the results script).

    Args:
        redis: the vbq Redis.
    """

    def __init__(self, redis: redis_lib.Redis) -> None:
        self.redis = redis

    def totals(self, kind: str) -> list[UsageTotals]:
        """Every tenant's (``kind="tenant"``) or model's (``"model"``) totals, by name."""
        names = sorted(_text(n) for n in self.redis.smembers(f"{PREFIX}{kind}s"))
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(f"{PREFIX}{kind}:{name}")
        return [_totals(name, raw) for name, raw in zip(names, pipe.execute(), strict=True)]

    def get(self, kind: str, name: str) -> UsageTotals:
        """One tenant's or model's totals (zeros when it has none)."""
        return _totals(name, self.redis.hgetall(f"{PREFIX}{kind}:{name}"))


def _totals(name: str, raw: Mapping[Any, Any]) -> UsageTotals:
    h = {_text(k): int(_text(v)) for k, v in raw.items()}
    return UsageTotals(
        name=name,
        tokens=Tokens.from_dict(h),
        requests=h.get("requests", 0),
        succeeded=h.get("succeeded", 0),
        failed=h.get("failed", 0),
        jobs=h.get("jobs", 0),
        cost=h.get("cost_micros", 0) / 1_000_000,
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
