"""Submission counts per tenant and state, read from the store's counters (never by scanning).

``vbq:count:tenant-state`` (a hash, field ``{tenant}:{STATE}``) is kept by ``create.lua`` and
``update.lua`` in the same atomic call as each change; ``vbq:idx:state:{STATE}`` and
``vbq:idx:tenant:{tenant}`` (zsets) give the totals. A store written before the counters
existed is brought up to date once with :func:`vbq.store.reindex.reindex`;
:attr:`TenantStateCounts.consistent` tells whether that is needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vbq.states import SubmissionState
from vbq.store.keys import state_index_key, tenant_state_counts_key

__all__ = ["TenantStateCounts", "read_counts"]


@dataclass(frozen=True, kw_only=True)
class TenantStateCounts:
    """How many submissions each tenant has in each state.

    Attributes:
        by_tenant: tenant -> state name -> count (zero counts left out).
        state_totals: state name -> count, from the state indexes (every tenant; exact).
    """

    by_tenant: dict[str, dict[str, int]] = field(default_factory=dict)
    state_totals: dict[str, int] = field(default_factory=dict)

    @property
    def tenants(self) -> list[str]:
        """Tenants with at least one submission, sorted."""
        return sorted(t for t, states in self.by_tenant.items() if any(states.values()))

    def tenant_total(self, tenant: str) -> int:
        """All submissions of ``tenant``."""
        return sum(self.by_tenant.get(tenant, {}).values())

    @property
    def total(self) -> int:
        """All submissions (from the state indexes)."""
        return sum(self.state_totals.values())

    @property
    def consistent(self) -> bool:
        """True when the per-tenant counters add up to the state indexes, state by state.

        False on a store written before the counters existed (run ``vbq console reindex``)
        or, briefly, when a change landed between the two reads.
        """
        summed: dict[str, int] = {}
        for states in self.by_tenant.values():
            for state, n in states.items():
                summed[state] = summed.get(state, 0) + n
        return {s: n for s, n in summed.items() if n} == {
            s: n for s, n in self.state_totals.items() if n
        }


def read_counts(redis: Any, *, tenants: Iterable[str] | None = None) -> TenantStateCounts:
    """Counts of every tenant (``tenants`` None) or of the given tenants only.

    One round trip: ``HGETALL`` (or ``HMGET``) of the counters and ``ZCARD`` of each state
    index. With ``tenants`` given, ``state_totals`` are the sums of those tenants' counters.
    """
    states = [s.value for s in SubmissionState]
    pipe = redis.pipeline(transaction=False)
    wanted = sorted(set(tenants)) if tenants is not None else None
    if wanted is None:
        pipe.hgetall(tenant_state_counts_key())
        for state in states:
            pipe.zcard(state_index_key(state))
    else:
        fields = [f"{t}:{s}" for t in wanted for s in states]
        if fields:
            pipe.hmget(tenant_state_counts_key(), fields)
    replies = pipe.execute() if len(pipe) else [[]]
    by_tenant: dict[str, dict[str, int]] = {}
    if wanted is None:
        for raw_field, raw_n in dict(replies[0]).items():
            tenant, _, state = _text(raw_field).rpartition(":")
            n = int(_text(raw_n))
            if tenant and n > 0:
                by_tenant.setdefault(tenant, {})[state] = n
        totals = {s: int(n) for s, n in zip(states, replies[1:], strict=True) if int(n)}
        return TenantStateCounts(by_tenant=by_tenant, state_totals=totals)
    values = iter(replies[0])
    totals = {}
    for tenant in wanted:
        row = by_tenant.setdefault(tenant, {})
        for state in states:
            raw_n = next(values)
            n = int(_text(raw_n)) if raw_n is not None else 0
            if n > 0:
                row[state] = n
                totals[state] = totals.get(state, 0) + n
    return TenantStateCounts(by_tenant=by_tenant, state_totals=totals)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
