"""The total-queue checker on hand-made histories: it passes a clean run and names each anomaly.

Pure logic, no services: these run in ``make test`` so a broken checker cannot hide a broken
pipeline in ``make chaos``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.chaos.checker import History, check, format_table

A, B, C = "a" * 32, "b" * 32, "c" * 32


def _job(sid: str, state: str = "JOB_STATE_SUCCEEDED", n: int = 0) -> dict[str, Any]:
    return {"name": f"jobs/{sid[:4]}{n}", "labels": {"vbq-submission": sid}, "state": state}


def _runs(*event_ids: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in event_ids:
        out += [{"event_id": e, "phase": "start"}, {"event_id": e, "phase": "finish"}]
    return out


def clean() -> History:
    events = [f"{s}:{st}" for s in (A, B) for st in ("SUBMITTED", "SUCCEEDED")]
    return History(
        accepted={A, B},
        final_states={A: "SUCCEEDED", B: "SUCCEEDED"},
        vertex_jobs=[_job(A), _job(B)],
        tapped=Counter(events),
        published=[(e, f"m-{e}") for e in events],
        handler_runs=_runs(*events),
    )


def test_a_clean_history_passes_with_counts() -> None:
    report = check(clean())
    assert report.ok, report.violations
    assert report.counts["submissions accepted"] == 2
    assert report.counts["events handled exactly once"] == 4
    assert "PASS" in format_table(report)


def test_lost_submission_is_reported() -> None:
    h = clean()
    h.accepted.add(C)
    h.final_states[C] = "SUBMITTING"
    report = check(h)
    assert report.violations["lost (accepted, not finished)"] == [f"{C} SUBMITTING"]
    h.final_states.pop(C)  # no record at all
    assert check(h).violations["lost (accepted, not finished)"] == [f"{C} None"]


def test_duplicate_and_unexpected_vertex_jobs_are_reported() -> None:
    h = clean()
    h.vertex_jobs += [_job(A, n=1), _job(C)]
    report = check(h)
    assert report.violations["duplicate vertex jobs"] == [f"{A} x2"]
    assert len(report.violations["unexpected vertex job"]) == 1
    assert "FAIL" in format_table(report)


def test_unpublished_and_unhandled_state_changes_are_reported() -> None:
    h = clean()
    h.tapped[f"{A}:RUNNING"] += 1  # a state change seen in the outbox, never published
    report = check(h)
    assert report.violations["state change never published"] == [f"{A}:RUNNING"]
    assert report.violations["state change never handled"] == [f"{A}:RUNNING"]


def test_final_state_is_required_even_if_the_tap_missed_it() -> None:
    h = clean()
    del h.tapped[f"{B}:SUCCEEDED"]
    h.published = [p for p in h.published if p[0] != f"{B}:SUCCEEDED"]
    report = check(h)
    assert report.violations["state change never published"] == [f"{B}:SUCCEEDED"]


def test_double_handling_is_a_violation_but_redelivery_is_only_counted() -> None:
    h = clean()
    h.published.append((f"{A}:SUBMITTED", f"m-{A}:SUBMITTED"))  # redelivered, same message
    h.published.append((f"{A}:SUBMITTED", "another-publish"))  # published twice by the relay
    report = check(h)
    assert report.ok
    assert report.counts["audit redeliveries"] == 1
    assert report.counts["events published more than once"] == 1
    h.handler_runs += _runs(f"{A}:SUBMITTED")
    report = check(h)
    assert report.violations["state change handled more than once"] == [f"{A}:SUBMITTED x2"]


def test_store_and_vertex_disagreeing_is_reported() -> None:
    h = clean()
    h.vertex_jobs[0]["state"] = "JOB_STATE_FAILED"
    assert check(h).violations["store state differs from vertex"] == [
        f"{A} store=SUCCEEDED vertex=FAILED"
    ]


def test_rejected_valid_request_and_missing_job_are_reported() -> None:
    h = clean()
    h.final_states[B] = "REJECTED"
    h.vertex_jobs = [_job(A)]
    h.handler_runs += _runs(f"{B}:REJECTED")
    h.published.append((f"{B}:REJECTED", "m"))
    report = check(h)
    assert report.violations["rejected (valid request)"] == [B]
    h.final_states[B] = "SUCCEEDED"
    assert check(h).violations["finished from vertex without a vertex job"] == [B]


def test_events_of_unknown_submissions_are_reported() -> None:
    h = clean()
    h.published.append((f"{C}:SUCCEEDED", "m"))
    assert check(h).violations["event for an unknown submission"] == [f"{C}:SUCCEEDED"]


def test_request_checker_passes_a_clean_history_and_names_each_anomaly() -> None:
    from tests.chaos.checker import Report
    from tests.chaos.request_checker import RequestHistory, check_requests

    r1, r2, r3 = "1" * 32, "2" * 32, "3" * 32
    clean = RequestHistory(
        accepted={r1, r2},
        records={r1: ("SUCCEEDED", "p1"), r2: ("FAILED", "p1")},
        pack_submissions={"p1": A},
        pack_inputs={"p1": [r1, r2]},
        counts={"SUCCEEDED": 1, "FAILED": 1},
        events=Counter({f"{r1}:SUCCEEDED": 1, f"{r2}:FAILED": 1}),
    )
    report = Report()
    check_requests(clean, report)
    assert report.ok, report.violations
    bad = RequestHistory(
        accepted={r1, r2, r3},
        records={r1: ("SUCCEEDED", "p1"), r2: ("PENDING", "p2"), r3: ("SUCCEEDED", "p1")},
        pack_submissions={"p1": A},
        pack_inputs={"p1": [r1, r3], "p2": [r1]},
        counts={"SUCCEEDED": 3},
        events=Counter({f"{r1}:SUCCEEDED": 2}),
    )
    report = Report()
    check_requests(bad, report)
    assert set(report.violations) == {
        "request lost (accepted, not answered)",
        "request in two packs",
        "request missing from its pack's input",
        "request's pack never submitted",
        "request answered twice (counters)",
        "request answered twice (events)",
    }
