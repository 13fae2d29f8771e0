"""The demo's judgement: each check fails on exactly the mismatch it is about."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from vbq_demo.monitor import Snapshot
from vbq_demo.progress import ProgressView, render, status_line
from vbq_demo.report import build_report, read_summaries

RUN = "20260101-000000-abcd"


def snap(**changes: Any) -> Snapshot:
    base: dict[str, Any] = {
        "elapsed_s": 12.0,
        "expected_stage1": 4,
        "stage1": {"SUCCEEDED": 2, "FAILED": 1, "PARTIALLY_SUCCEEDED": 1},
        "stage2": {"SUCCEEDED": 1},
        "stage2_expected_parents": frozenset({"p1"}),
        "stage2_parents": ["p1"],
        "events_recorded": 20,
        "outbox_depth": 0,
        "events_published": 20,
        "handled_events": 20,
        "handler_runs": 20,
        "max_runs_per_event": 1,
        "vertex_requests": {"create": 7, "list": 9},
        "vertex_statuses": {"200": 14, "429": 2},
        "vertex_jobs_created": 5,
    }
    base.update(changes)
    return Snapshot(**base)


def vertex_jobs(submissions: list[str], run: str = RUN) -> list[dict[str, Any]]:
    return [{"labels": {"vbq-submission": s, "demo-run": run}} for s in submissions]


def checks(s: Snapshot, jobs: list[dict[str, Any]] | None = None) -> dict[str, bool]:
    report = build_report(
        run_id=RUN,
        snapshot=s,
        vertex_jobs=vertex_jobs(["a", "b", "c", "d", "e"]) if jobs is None else jobs,
        summary_path=Path("/nonexistent/summaries.jsonl"),
        output_prefix="gs://b/outputs",
    )
    return {c.name: c.ok for c in report.checks}


def test_a_clean_run_passes_every_check() -> None:
    result = checks(snap())
    assert result and all(result.values()), result


@pytest.mark.parametrize(
    ("changes", "failing"),
    [
        ({"stage1": {"SUCCEEDED": 2, "RUNNING": 2}}, "every job finished"),
        ({"stage1": {"SUCCEEDED": 3}}, "every job finished"),  # one never got recorded
        ({"stage2": {"RUNNING": 1}}, "every job finished"),
        ({"events_published": 19}, "events delivered = state changes"),
        ({"outbox_depth": 1}, "events delivered = state changes"),
        ({"handled_events": 19, "handler_runs": 19}, "handler runs = events"),
        ({"handler_runs": 21, "max_runs_per_event": 2}, "handler runs = events"),
        ({"stage2_parents": ["p1", "p1"], "stage2": {"SUCCEEDED": 2}}, "each chained job"),
        ({"stage2_parents": ["p2"]}, "each chained job"),
    ],
)
def test_each_mismatch_fails_its_check(changes: dict[str, Any], failing: str) -> None:
    result = checks(snap(**changes))
    failed = [name for name, ok in result.items() if not ok]
    assert failed and all(name.startswith(failing) for name in failed), result


def test_a_duplicate_vertex_job_of_this_run_fails_the_chain_check() -> None:
    jobs = vertex_jobs(["a", "b", "b"])
    result = checks(snap(), jobs)
    assert not result["each chained job submitted exactly once"]
    # Jobs of another run on a shared emulator do not count.
    assert all(checks(snap(), vertex_jobs(["a"]) + vertex_jobs(["x", "x"], run="other")).values())


def test_read_summaries_tallies_rows_tokens_and_outputs(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    lines = [
        {"rows": {"predictions": 6, "failed": 1}, "tokens": {"total": 40}, "output": "gs://b/o1"},
        {"rows": None, "tokens": None, "output": ""},
        {"rows": {"predictions": 3, "failed": 0}, "tokens": None, "output": "gs://b/o2"},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + "\n")
    out = read_summaries(path)
    assert (out.lines, out.predictions, out.failed_rows, out.tokens) == (3, 9, 1, 40)
    assert out.directories == ["gs://b/o1", "gs://b/o2"]
    assert read_summaries(tmp_path / "absent.jsonl").lines == 0


def test_render_prints_every_check_with_a_mark() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=160)
    report = build_report(
        run_id=RUN,
        snapshot=snap(events_published=19),
        vertex_jobs=vertex_jobs(["a"]),
        summary_path=Path("/nonexistent"),
        output_prefix="gs://b/outputs",
    )
    report.render(console)
    text = buffer.getvalue()
    assert "✓ every job finished" in text
    assert "✗ events delivered = state changes: 19 published, 20 recorded" in text
    assert "some checks failed" in text
    assert "Vertex API calls: 16 (create 7, list 9)" in text


def test_done_needs_jobs_and_events() -> None:
    assert snap().done
    assert not snap(outbox_depth=3).done
    assert not snap(handled_events=19).done
    assert not snap(stage2={"RUNNING": 1}).done
    assert not snap(stage2_expected_parents=frozenset({"p1", "p2"})).done


def test_progress_view_off_a_terminal_prints_plain_lines() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=160)
    with ProgressView(console=console, run_id=RUN, plain_every_s=0.0) as view:
        view.update(snap(stage1={"RUNNING": 4}))
        view.update(snap())
    lines = buffer.getvalue().splitlines()
    assert "stage 1 0/4" in lines[0]
    assert "stage 1 4/4" in lines[-1] and "handled 20" in lines[-1]
    assert status_line(snap()) in lines[-1]


def test_render_builds_the_live_table() -> None:
    buffer = io.StringIO()
    Console(file=buffer, width=160).print(render(snap(), run_id=RUN))
    text = buffer.getvalue()
    assert RUN in text and "stage 2" in text and "succeeded" in text
    assert "recorded 20" in text and "errors 429: 2" in text
