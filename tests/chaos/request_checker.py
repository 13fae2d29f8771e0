"""The total-queue checker for single requests (issue 16), beside :mod:`tests.chaos.checker`.

Recorded after the run drained:

- ``accepted``: every request id ``add_requests`` returned (client side);
- ``records``: each request's stored state and pack;
- ``pack_submissions``: each pack's submission id (checked like any submission by the main
  checker: finished, exactly one Vertex job, every event published and handled once);
- ``pack_inputs``: the request ids found in each pack's input object in Cloud Storage (its
  ``vbq-request`` labels), read independently of the store;
- ``counts``: the store's per-state counters (moved only by the answer script's
  compare-and-set, so a request answered twice would count twice);
- ``events``: request event ids the outbox tap saw (with ``VBQ_REQUEST_EVENTS`` on).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from tests.chaos.checker import Report

__all__ = ["ANSWERED", "RequestHistory", "check_requests"]

ANSWERED = frozenset({"SUCCEEDED", "FAILED"})
LOST = "request lost (accepted, not answered)"


@dataclass
class RequestHistory:
    """Everything recorded about requests in one chaos run (see the module docstring)."""

    accepted: set[str] = field(default_factory=set)
    records: dict[str, tuple[str, str]] = field(default_factory=dict)
    pack_submissions: dict[str, str] = field(default_factory=dict)
    pack_inputs: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    events: Counter[str] = field(default_factory=Counter)


def check_requests(history: RequestHistory, report: Report) -> None:
    """Add the request invariants' violations and counts to ``report``."""
    c = report.counts
    accepted = history.accepted
    c["requests accepted"] = len(accepted)
    states = Counter(history.records.get(rid, ("MISSING", ""))[0] for rid in accepted)
    for state, n in sorted(states.items()):
        c[f"request final state {state}"] = n
    c["packs"] = len(history.pack_submissions)
    report.add(
        LOST,
        (
            f"{rid} {history.records.get(rid, ('MISSING', ''))[0]}"
            for rid in accepted
            if history.records.get(rid, ("", ""))[0] not in ANSWERED
        ),
    )
    # None in two packs (so none in two jobs: a pack is one submission, one job).
    seen_in: dict[str, list[str]] = defaultdict(list)
    for pack, ids in history.pack_inputs.items():
        for rid in ids:
            seen_in[rid].append(pack)
    report.add(
        "request in two packs",
        (f"{rid} {packs}" for rid, packs in seen_in.items() if len(packs) > 1),
    )
    report.add(
        "request missing from its pack's input",
        (
            f"{rid} pack={history.records[rid][1]}"
            for rid in accepted
            if rid in history.records
            and history.records[rid][1] in history.pack_inputs
            and history.records[rid][1] not in seen_in.get(rid, [])
        ),
    )
    report.add(
        "request's pack never submitted",
        (
            rid
            for rid in accepted
            if rid in history.records and history.records[rid][1] not in history.pack_submissions
        ),
    )
    report.add(
        "pack input holds an unknown request",
        (f"{rid} in {packs}" for rid, packs in seen_in.items() if rid not in accepted),
    )
    # None answered twice: the counters move once per compare-and-set win, each request event
    # is appended by that same win.
    answered = sum(1 for rid in accepted if history.records.get(rid, ("", ""))[0] in ANSWERED)
    counted = sum(history.counts.get(s, 0) for s in ANSWERED)
    c["requests answered (records)"] = answered
    c["requests answered (counters)"] = counted
    report.add(
        "request answered twice (counters)",
        [f"counters {counted} > records {answered}"] if counted > answered else [],
    )
    report.add(
        "request answered twice (events)",
        (f"{eid} x{n}" for eid, n in history.events.items() if n > 1),
    )
    if history.events:
        c["request events recorded"] = sum(history.events.values())
