"""The live view of a demo run: a rich table of jobs by state per stage, events and API calls.

On a terminal :class:`ProgressView` redraws in place (``rich.live.Live``); otherwise (a log, a
pipe, a test) it prints one plain status line every ``plain_every_s`` seconds.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from vbq_demo.monitor import Snapshot

__all__ = ["STATE_COLUMNS", "ProgressView", "render", "status_line"]

STATE_COLUMNS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("waiting", ("ACCEPTED", "SUBMITTING"), "dim"),
    ("running", ("SUBMITTED", "QUEUED", "PENDING", "RUNNING", "CANCELLING", "PAUSED", "UPDATING"),
     "cyan"),
    ("succeeded", ("SUCCEEDED",), "green"),
    ("partial", ("PARTIALLY_SUCCEEDED",), "yellow"),
    ("failed", ("FAILED",), "red"),
    ("expired", ("EXPIRED",), "magenta"),
    ("rejected", ("REJECTED",), "red"),
    ("cancelled", ("CANCELLED",), "dim"),
)  # fmt: skip
"""Table columns: title, the submission states counted in it, style."""


def _column_counts(states: dict[str, int]) -> list[int]:
    return [sum(states.get(s, 0) for s in members) for _, members, _ in STATE_COLUMNS]


def render(snap: Snapshot, *, run_id: str) -> Group:
    """The view of ``snap`` as a rich renderable."""
    title = Text.assemble(
        ("vbq demo", "bold"), f"  run {run_id}  ·  {snap.elapsed_s:5.1f}s elapsed", style=""
    )
    table = Table(box=None, padding=(0, 1), show_edge=False)
    table.add_column("stage", style="bold")
    table.add_column("jobs", justify="right")
    for name, _, style in STATE_COLUMNS:
        table.add_column(name, justify="right", style=style)
    table.add_column("finished", min_width=24)
    rows = (
        ("stage 1", snap.stage1, snap.expected_stage1),
        ("stage 2", snap.stage2, max(snap.stage2_expected, sum(snap.stage2.values()))),
    )
    for label, states, total in rows:
        done = sum(_column_counts(states)[2:])
        bar = ProgressBar(total=max(total, 1), completed=done, width=16)
        table.add_row(
            label,
            str(total),
            *[str(n) for n in _column_counts(states)],
            _bar_cell(bar, done, total),
        )
    events = Text(
        f"events  recorded {snap.events_recorded}  ·  published {snap.events_published}"
        f"  ·  handled {snap.handled_events}  ·  outbox {snap.outbox_depth}"
    )
    calls = "  ".join(f"{m} {n}" for m, n in sorted(snap.vertex_requests.items()) if n)
    errors = "  ".join(
        f"{code}: {n}" for code, n in sorted(snap.vertex_statuses.items()) if code != "200" and n
    )
    api = Text(f"Vertex API  {calls or '-'}" + (f"  ·  errors {errors}" if errors else ""))
    return Group(title, table, events, api)


def _bar_cell(bar: ProgressBar, done: int, total: int) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_row(bar, Text(f"{done}/{total}"))
    return grid


def status_line(snap: Snapshot) -> str:
    """One plain line: finished jobs per stage, events, elapsed time."""
    return (
        f"[{snap.elapsed_s:6.1f}s] stage 1 {snap.stage1_finished}/{snap.expected_stage1}"
        f" · stage 2 {snap.stage2_finished}/{max(snap.stage2_expected, sum(snap.stage2.values()))}"
        f" · events recorded {snap.events_recorded} published {snap.events_published}"
        f" handled {snap.handled_events} · outbox {snap.outbox_depth}"
    )


class ProgressView:
    """Shows snapshots as they come; a context manager.

    Args:
        console: where to draw.
        run_id: shown in the title.
        plain_every_s: seconds between status lines when the console is not a terminal.
    """

    def __init__(self, *, console: Console, run_id: str, plain_every_s: float = 5.0) -> None:
        self.console = console
        self.run_id = run_id
        self.plain_every_s = plain_every_s
        self._live: Live | None = None
        self._last_plain = 0.0
        self.last: Snapshot | None = None

    def __enter__(self) -> ProgressView:
        if self.console.is_terminal:
            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.__enter__()
        return self

    def update(self, snap: Snapshot) -> None:
        """Show ``snap``."""
        self.last = snap
        if self._live is not None:
            self._live.update(render(snap, run_id=self.run_id), refresh=True)
        elif time.monotonic() - self._last_plain >= self.plain_every_s:
            self._last_plain = time.monotonic()
            self.console.print(status_line(snap), highlight=False)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None
        elif self.last is not None:
            self.console.print(status_line(self.last), highlight=False)
