"""A total-queue checker for vbq, in the style of Jepsen's ``total-queue`` checker.

The chaos run records, independently of the system under test:

- ``accepted``: every submission id ``submit()`` returned (client side);
- ``final_states``: the job store's state of each accepted id after the run drained;
- ``vertex_jobs``: every job the Vertex emulator created (its ``/_emulator/jobs``, deleted
  ones included), with its ``vbq-submission`` label and state;
- ``tapped``: every outbox entry a tap saw (``XREAD`` on ``vbq:outbox`` before the relay
  deleted it; a tap may miss an entry relayed within microseconds, never invent one);
- ``published``: every message delivered on an audit subscription of the events topic
  (no dedupe: one entry per delivery, with Pub/Sub's message id);
- ``handler_runs``: every ``start``/``finish`` line the recording handler wrote.

:func:`check` turns that history into violations of invariants 1-3 (docs/architecture.md
§ Invariants) and a table of counts; an empty ``violations`` dict is a pass.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FINISHED", "History", "Report", "check", "format_table"]

FINISHED = frozenset(
    {"SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED", "REJECTED"}
)
# Final states that only a Vertex job can report: such a submission must have exactly one job.
_FROM_VERTEX = frozenset({"SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED", "EXPIRED"})
LABEL = "vbq-submission"


@dataclass
class History:
    """Everything recorded during one chaos run (see the module docstring)."""

    accepted: set[str] = field(default_factory=set)
    final_states: dict[str, str | None] = field(default_factory=dict)
    vertex_jobs: list[dict[str, Any]] = field(default_factory=list)
    tapped: Counter[str] = field(default_factory=Counter)
    published: list[tuple[str, str]] = field(default_factory=list)
    """``(event_id, message_id)`` per delivery on the audit subscription."""
    handler_runs: list[dict[str, Any]] = field(default_factory=list)
    other_owners: set[str] = field(default_factory=set)
    """Ids that own events without being submissions (requests, with VBQ_REQUEST_EVENTS)."""


@dataclass
class Report:
    """What :func:`check` found: ``violations`` (name -> examples) and ``counts`` (name -> n)."""

    violations: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no invariant was broken."""
        return not self.violations

    def add(self, name: str, items: Iterable[str]) -> None:
        found = sorted(items)
        self.counts[f"violation: {name}"] = len(found)
        if found:
            self.violations[name] = found


def _vertex_state(job: Mapping[str, Any]) -> str:
    return str(job.get("state", "")).removeprefix("JOB_STATE_")


def check(history: History) -> Report:
    """Check ``history`` against the invariants; never raises for a bad history."""
    report = Report()
    accepted = history.accepted
    c = report.counts
    c["submissions accepted"] = len(accepted)
    by_state = Counter(history.final_states.get(sid) or "MISSING" for sid in accepted)
    for state, n in sorted(by_state.items()):
        c[f"final state {state}"] = n

    # 1. No lost request: every accepted id reached a finished state.
    report.add(
        "lost (accepted, not finished)",
        (
            f"{sid} {history.final_states.get(sid)}"
            for sid in accepted
            if history.final_states.get(sid) not in FINISHED
        ),
    )
    # A valid request under transient faults must never end REJECTED (retries are unlimited in
    # the run: a rejection means a transient fault was taken for a permanent one).
    report.add(
        "rejected (valid request)",
        (sid for sid in accepted if history.final_states.get(sid) == "REJECTED"),
    )

    # 2. No duplicate Vertex job, no unexpected job.
    jobs_by_sid: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for job in history.vertex_jobs:
        jobs_by_sid[str((job.get("labels") or {}).get(LABEL, ""))].append(job)
    c["vertex jobs created"] = len(history.vertex_jobs)
    report.add(
        "unexpected vertex job",
        (
            f"{job.get('name')} label={sid!r}"
            for sid, js in jobs_by_sid.items()
            if sid not in accepted
            for job in js
        ),
    )
    report.add(
        "duplicate vertex jobs",
        (f"{sid} x{len(js)}" for sid, js in jobs_by_sid.items() if sid in accepted and len(js) > 1),
    )
    report.add(
        "finished from vertex without a vertex job",
        (
            sid
            for sid in accepted
            if history.final_states.get(sid) in _FROM_VERTEX and not jobs_by_sid.get(sid)
        ),
    )
    report.add(
        "store state differs from vertex",
        (
            f"{sid} store={history.final_states.get(sid)} vertex={_vertex_state(js[0])}"
            for sid, js in jobs_by_sid.items()
            if sid in accepted
            and len(js) == 1
            and _vertex_state(js[0]) in FINISHED
            and history.final_states.get(sid) != _vertex_state(js[0])
        ),
    )

    # 3. One event per transition: published at least once, handled exactly once.
    required: set[str] = set(history.tapped)
    for sid in accepted:
        final = history.final_states.get(sid)
        if final in FINISHED:
            required.add(f"{sid}:{final}")
        if jobs_by_sid.get(sid):
            required.add(f"{sid}:SUBMITTED")
    deliveries: Counter[str] = Counter(eid for eid, _ in history.published)
    messages: dict[str, set[str]] = defaultdict(set)
    for eid, mid in history.published:
        messages[eid].add(mid)
    finishes: Counter[str] = Counter(
        r["event_id"] for r in history.handler_runs if r.get("phase") == "finish"
    )
    starts: Counter[str] = Counter(
        r["event_id"] for r in history.handler_runs if r.get("phase") == "start"
    )
    c["state changes (outbox tap)"] = len(history.tapped)
    c["state changes required"] = len(required)
    c["events published (distinct)"] = len(messages)
    c["messages published (distinct ids)"] = sum(len(m) for m in messages.values())
    c["events published more than once"] = sum(1 for m in messages.values() if len(m) > 1)
    c["audit deliveries"] = sum(deliveries.values())
    c["audit redeliveries"] = sum(deliveries.values()) - sum(len(m) for m in messages.values())
    c["handler starts"] = sum(starts.values())
    c["handler finishes"] = sum(finishes.values())
    c["handler runs interrupted (start, no finish)"] = sum(
        max(0, starts[e] - finishes[e]) for e in starts
    )
    c["events handled exactly once"] = sum(1 for e in required if finishes[e] == 1)
    report.add("state change never published", (e for e in required if e not in messages))
    report.add("state change never handled", (e for e in required if finishes[e] == 0))
    report.add(
        "state change handled more than once",
        (f"{e} x{finishes[e]}" for e in required if finishes[e] > 1),
    )
    report.add(
        "event for an unknown submission",
        (
            e
            for e in messages
            if e.split(":", 1)[0] not in accepted and e.split(":", 1)[0] not in history.other_owners
        ),
    )
    return report


def format_table(report: Report, *, title: str = "chaos report") -> str:
    """The counts as a two-column text table, then up to 5 examples per violation."""
    width = max((len(k) for k in report.counts), default=10)
    lines = [title, "-" * (width + 12)]
    lines += [f"{name:<{width}}  {value:>8}" for name, value in report.counts.items()]
    lines.append("-" * (width + 12))
    lines.append("RESULT: " + ("PASS" if report.ok else "FAIL"))
    for name, examples in report.violations.items():
        lines.append(f"  {name}: {len(examples)}, e.g. {examples[:5]}")
    return "\n".join(lines)
