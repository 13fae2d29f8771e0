"""The demo's closing summary: counts, API calls, events, handler runs, outputs, and checks.

:func:`build_report` turns the last :class:`~vbq_demo.monitor.Snapshot`, the Vertex emulator's
job list and the summary file into a :class:`DemoReport`; :meth:`DemoReport.render` prints it
with a ✓ or ✗ per check. The demo exits 0 only when every check holds.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from vbq_demo.handlers import RUN_LABEL
from vbq_demo.monitor import Snapshot
from vbq_demo.progress import STATE_COLUMNS

__all__ = ["Check", "DemoReport", "OutputsSummary", "build_report", "read_summaries"]

_SUBMISSION_LABEL = "vbq-submission"


@dataclass(frozen=True, kw_only=True)
class Check:
    """One pass/fail line of the report."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, kw_only=True)
class OutputsSummary:
    """What the summary handler wrote.

    Attributes:
        lines: summary lines (one per finished job event).
        predictions: output rows read (predictions files).
        failed_rows: rows that failed (errors files, failed Gemini rows).
        tokens: Gemini tokens in total.
        directories: output directories of jobs with outputs, in file order.
    """

    lines: int = 0
    predictions: int = 0
    failed_rows: int = 0
    tokens: int = 0
    directories: list[str] = field(default_factory=list)


def read_summaries(path: Path) -> OutputsSummary:
    """Tally the summary file at ``path`` (an absent file counts as empty)."""
    if not path.exists():
        return OutputsSummary()
    lines = predictions = failed = tokens = 0
    dirs: list[str] = []
    for raw in path.read_text().splitlines():
        if not raw.strip():
            continue
        item = json.loads(raw)
        lines += 1
        rows = item.get("rows") or {}
        predictions += int(rows.get("predictions", 0))
        failed += int(rows.get("failed", 0))
        tokens += int((item.get("tokens") or {}).get("total", 0))
        if item.get("output"):
            dirs.append(str(item["output"]))
    return OutputsSummary(
        lines=lines, predictions=predictions, failed_rows=failed, tokens=tokens, directories=dirs
    )


@dataclass(frozen=True, kw_only=True)
class DemoReport:
    """Everything the demo prints at the end.

    Attributes:
        run_id: the ``demo-run`` label value.
        snapshot: the last snapshot.
        checks: the pass/fail lines.
        outputs: the summary file's tally.
        summary_path: the local summary file.
        output_prefix: ``gs://`` prefix the jobs wrote to.
        duplicates: submissions of this run with more than one Vertex job.
    """

    run_id: str
    snapshot: Snapshot
    checks: list[Check]
    outputs: OutputsSummary
    summary_path: Path
    output_prefix: str
    duplicates: int = 0

    @property
    def ok(self) -> bool:
        """True when every check holds."""
        return all(c.ok for c in self.checks)

    def render(self, console: Console) -> None:
        """Print the report."""
        snap = self.snapshot
        console.print()
        console.print(f"[bold]vbq demo: summary[/]  run {self.run_id}, {snap.elapsed_s:.1f}s")
        table = Table(box=None, padding=(0, 1), show_edge=False)
        table.add_column("final state", style="bold")
        table.add_column("stage 1", justify="right")
        table.add_column("stage 2", justify="right")
        for title, members, style in STATE_COLUMNS:
            one = sum(snap.stage1.get(s, 0) for s in members)
            two = sum(snap.stage2.get(s, 0) for s in members)
            if one or two:
                table.add_row(f"[{style}]{title}[/]", str(one), str(two))
        table.add_row("total", str(sum(snap.stage1.values())), str(sum(snap.stage2.values())))
        console.print(table)
        calls = sum(snap.vertex_requests.values())
        by_method = ", ".join(f"{m} {n}" for m, n in sorted(snap.vertex_requests.items()) if n)
        by_status = ", ".join(f"{c}: {n}" for c, n in sorted(snap.vertex_statuses.items()) if n)
        console.print(f"Vertex API calls: {calls} ({by_method}); answers {by_status}")
        console.print(
            f"Vertex jobs created: {snap.vertex_jobs_created}; "
            f"submissions with more than one job: {self.duplicates}"
        )
        console.print(
            f"Events: {snap.events_recorded} state changes recorded, "
            f"{snap.events_published} published, outbox depth {snap.outbox_depth}"
        )
        console.print(
            f"Handler runs: {snap.handled_events} events handled, {snap.handler_runs} runs, "
            f"at most {snap.max_runs_per_event} per event"
        )
        out = self.outputs
        console.print(
            f"Outputs: {len(out.directories)} jobs wrote under {self.output_prefix}/ "
            f"({out.predictions} rows read, {out.failed_rows} failed rows, "
            f"{out.tokens} Gemini tokens)"
        )
        if out.directories:
            console.print(f"  e.g. {out.directories[0]}/", highlight=False)
        console.print(f"Summary file: {self.summary_path} ({out.lines} lines)", highlight=False)
        for check in self.checks:
            mark = "[green]✓[/]" if check.ok else "[red]✗[/]"
            console.print(f"{mark} {check.name}: {check.detail}", highlight=False)
        verdict = "[green]all checks passed[/]" if self.ok else "[red]some checks failed[/]"
        console.print(verdict)


def build_report(
    *,
    run_id: str,
    snapshot: Snapshot,
    vertex_jobs: Iterable[dict[str, Any]],
    summary_path: Path,
    output_prefix: str,
) -> DemoReport:
    """Judge the run.

    Args:
        run_id: the run's ``demo-run`` label.
        snapshot: the last snapshot.
        vertex_jobs: ``GET /_emulator/jobs`` of the Vertex emulator.
        summary_path: the summary handler's file.
        output_prefix: where jobs wrote (for the printout).
    """
    snap = snapshot
    per_submission: Counter[str] = Counter()
    for job in vertex_jobs:
        labels = job.get("labels") or {}
        if labels.get(RUN_LABEL) == run_id:
            per_submission[str(labels.get(_SUBMISSION_LABEL, ""))] += 1
    duplicates = sum(1 for n in per_submission.values() if n > 1)
    total2 = sum(snap.stage2.values())
    parents = Counter(snap.stage2_parents)
    twice = sorted(p for p, n in parents.items() if n > 1)
    missing = snap.stage2_expected_parents - set(parents)
    unexpected = set(parents) - snap.stage2_expected_parents
    checks = [
        Check(
            name="every job finished",
            ok=snap.jobs_done,
            detail=f"stage 1 {snap.stage1_finished}/{snap.expected_stage1}, "
            f"stage 2 {snap.stage2_finished}/{max(snap.stage2_expected, total2)}",
        ),
        Check(
            name="events delivered = state changes",
            ok=snap.events_published == snap.events_recorded and snap.outbox_depth == 0,
            detail=f"{snap.events_published} published, {snap.events_recorded} recorded, "
            f"{snap.outbox_depth} left in the outbox",
        ),
        Check(
            name="handler runs = events",
            ok=snap.handled_events == snap.events_recorded
            and snap.handler_runs == snap.handled_events,
            detail=f"{snap.handler_runs} runs for {snap.handled_events} event ids, "
            f"{snap.events_recorded} events",
        ),
        Check(
            name="each chained job submitted exactly once",
            ok=not twice and not missing and not unexpected and duplicates == 0,
            detail=f"{len(parents)} stage-2 jobs for {snap.stage2_expected} chained parents"
            + (f"; twice: {len(twice)}" if twice else "")
            + (f"; missing: {len(missing)}" if missing else "")
            + (f"; unexpected: {len(unexpected)}" if unexpected else "")
            + f"; {len(per_submission)} submissions, {duplicates} with a duplicate Vertex job",
        ),
    ]
    return DemoReport(
        run_id=run_id,
        snapshot=snap,
        checks=checks,
        outputs=read_summaries(summary_path),
        summary_path=summary_path,
        output_prefix=output_prefix,
        duplicates=duplicates,
    )
