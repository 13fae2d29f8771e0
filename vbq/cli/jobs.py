"""``vbq submit``, ``status``, ``list``, ``cancel`` and ``watch``: the producer side of the CLI.

They talk to the job store and the broker directly (``VBQ_REDIS_URL``, ``VBQ_BROKER_URL``), as
a service using :class:`vbq.producers.Client` would; ``vbq api`` is the HTTP way in.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from vbq.producers.client import Client
    from vbq.producers.submission import Submission

__all__ = ["cancel", "list_submissions", "register", "status", "submit", "watch"]


def _client() -> Client:
    from vbq.errors import ConfigError
    from vbq.producers.client import Client

    try:
        return Client.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _print_errors(errors: list[dict[str, str]], prefix: str = "") -> None:
    for err in errors:
        click.echo(f"{prefix}{err['field']}: {err['message']} [{err['rule']}]", err=True)


@click.command("submit")
@click.argument("files", nargs=-1, required=True)
@click.option("--tenant", default="default", show_default=True, help="Owner of the jobs.")
@click.option("--idempotency-key", default=None, help="For a single request (not bulk).")
@click.option(
    "--priority",
    type=click.Choice(["interactive", "default", "bulk"]),
    default=None,
    help="Order within the tenant's queue (default: default; items may name their own).",
)
@click.option(
    "--location",
    "locations",
    multiple=True,
    help="An acceptable location (repeat it): the job runs where capacity is free first.",
)
@click.option("--atomic", is_flag=True, help="Bulk: if any item is invalid, submit none.")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option("--no-progress", is_flag=True, help="No progress bar for bulk files.")
def submit(
    *,
    files: tuple[str, ...],
    tenant: str,
    idempotency_key: str | None,
    priority: str | None,
    locations: tuple[str, ...],
    atomic: bool,
    batch_size: int,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Submit job requests from FILES (JSON or YAML SDK kwargs; JSON lines or lists for bulk;
    ``-`` reads stdin). Prints one submission id per line; exits 1 if any item was refused
    (exits 2 when the tenant is at a cap: retry later)."""
    from vbq.errors import ConfigError, IdempotencyConflictError, SpecError, TenantCapError
    from vbq.producers.batch import ItemError
    from vbq.producers.files import read_requests

    client = _client()
    failed = False
    stdin_text = sys.stdin.read() if "-" in files else None
    for path in files:
        try:
            parsed = read_requests(path, stdin_text=stdin_text)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            failed = True
            continue
        if not parsed.bulk and not isinstance(parsed.items[0], ItemError):
            item = dict(parsed.items[0])
            item.setdefault("tenant", tenant)
            if idempotency_key is not None:
                item.setdefault("idempotency_key", idempotency_key)
            if priority is not None:
                item.setdefault("priority", priority)
            if locations:
                item.setdefault("locations", list(locations))
            try:
                sub = client.submit(**item)
            except SpecError as exc:
                click.echo(f"{parsed.source}: refused", err=True)
                _print_errors(exc.errors, prefix="  ")
                failed = True
                continue
            except IdempotencyConflictError as exc:
                click.echo(f"{parsed.source}: {exc}", err=True)
                failed = True
                continue
            except TenantCapError as exc:
                click.echo(f"{parsed.source}: refused: {exc}", err=True)
                sys.exit(2)
            if as_json:
                click.echo(json.dumps(sub.to_dict(), default=str))
            else:
                click.echo(sub.submission_id)
            continue
        if idempotency_key is not None:
            # One key for many requests would fold them into one submission (or conflict).
            click.echo(
                f"error: {parsed.source}: --idempotency-key applies to a single request; "
                "give each bulk item its own idempotency_key",
                err=True,
            )
            failed = True
            continue
        failed |= _submit_bulk(
            client=client,
            parsed=parsed,
            tenant=tenant,
            priority=priority or "default",
            locations=list(locations) or None,
            atomic=atomic,
            batch_size=batch_size,
            as_json=as_json,
            no_progress=no_progress,
        )
    if failed:
        sys.exit(1)


def _submit_bulk(
    *,
    client: Client,
    parsed: Any,
    tenant: str,
    priority: str,
    locations: list[str] | None,
    atomic: bool,
    batch_size: int,
    as_json: bool,
    no_progress: bool,
) -> bool:
    """Submit a bulk source; returns True when some item failed."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from vbq.producers.batch import BatchResult, ItemError

    parse_errors = {item.index: item for item in parsed.items if isinstance(item, ItemError)}
    console = Console(stderr=True)
    show = not no_progress and console.is_terminal
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not show,
    ) as progress:
        task = progress.add_task(parsed.source, total=len(parsed.items))
        # Unparseable lines go in as non-objects, so indexes and `atomic` cover them too.
        inner = client.submit_many(
            [None if isinstance(item, ItemError) else item for item in parsed.items],  # type: ignore[misc]
            atomic=atomic,
            batch_size=batch_size,
            tenant=tenant,
            priority=priority,
            locations=locations,
            on_progress=lambda n: progress.advance(task, n),
        )
    errors = tuple(parse_errors.get(e.index, e) for e in inner.errors)
    result = BatchResult(accepted=inner.accepted, errors=errors, atomic=inner.atomic)
    if as_json:
        click.echo(json.dumps({"source": parsed.source, **result.to_dict()}))
    else:
        for accepted in result.accepted:
            click.echo(accepted.submission_id)
    for err in result.errors:
        click.echo(f"{parsed.source}: item {err.index} refused", err=True)
        _print_errors([dict(e) for e in err.errors], prefix="  ")
    if result.errors:
        stored = len(result.accepted)
        click.echo(f"{parsed.source}: {len(result.errors)} refused, {stored} submitted", err=True)
    return bool(result.errors)


def _show(sub: Submission) -> None:
    d = sub.to_dict()
    rows = [
        ("submission", d["submission_id"]),
        ("state", d["state"]),
        ("tenant", d["tenant"]),
        ("display name", d["display_name"]),
        ("vertex job", d["resource_name"]),
        ("model", d["model"]),
        ("accepted", d["accepted_time"]),
        ("submitted", d["submitted_time"]),
        ("finished", d["finished_time"]),
        ("attempts", d["attempts"]),
        ("last error", d["last_error"]),
        ("completion", d["completion_stats"]),
        ("output", d["output_info"]),
        ("error", d["error"]),
        ("results", d.get("results")),
    ]
    for label, value in rows:
        if value not in (None, "", {}, []):
            click.echo(f"{label:>13}: {value}")


@click.command("status")
@click.argument("submission_id")
@click.option("--json", "as_json", is_flag=True, help="Print the whole submission as JSON.")
def status(submission_id: str, as_json: bool) -> None:
    """Show one submission."""
    from vbq.errors import NotFoundError

    try:
        sub = _client().get(submission_id)
    except NotFoundError as exc:
        _fail(str(exc))
        return
    if as_json:
        click.echo(json.dumps(sub.to_dict(), indent=2, default=str))
    else:
        _show(sub)


@click.command("list")
@click.option("--state", default=None, help="Only this state (ACCEPTED, RUNNING, ...).")
@click.option("--tenant", default=None, help="Only this tenant.")
@click.option("--label", default=None, help="Only jobs with label key=value.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option(
    "--queues", is_flag=True, help="Instead: the scheduler's queues and share per tenant."
)
def list_submissions(
    *,
    state: str | None,
    tenant: str | None,
    label: str | None,
    limit: int,
    as_json: bool,
    queues: bool,
) -> None:
    """List submissions, newest first (or, with --queues, the per-tenant queue summary)."""
    from vbq.states import SubmissionState

    if queues:
        from vbq.cli.queues import echo_queue_summary

        echo_queue_summary(_client(), as_json=as_json)
        return

    state_filter = None
    if state:
        try:
            state_filter = SubmissionState(state.upper())
        except ValueError:
            raise click.BadParameter(
                ", ".join(s.value for s in SubmissionState), param_hint="--state"
            ) from None
    label_filter = None
    if label:
        key, sep, value = label.partition("=")
        if not sep or not key:
            raise click.BadParameter("expected key=value", param_hint="--label")
        label_filter = (key, value)
    client = _client()
    subs = client.iter_submissions(
        tenant=tenant, state=state_filter, label=label_filter, page_size=min(limit, 500)
    )
    for shown, sub in enumerate(subs, start=1):
        if as_json:
            click.echo(json.dumps(sub.to_dict(), default=str))
        else:
            rec = sub.record
            click.echo(f"{rec.id}  {rec.state.value:<20} {rec.tenant:<12} {sub.display_name or ''}")
        if shown >= limit:
            break


@click.command("cancel")
@click.argument("submission_id")
def cancel(submission_id: str) -> None:
    """Ask the workers to cancel a submission."""
    from vbq.errors import NotFoundError, StateConflictError

    try:
        sub = _client().cancel(submission_id)
    except (NotFoundError, StateConflictError) as exc:
        _fail(str(exc))
        return
    click.echo(f"{sub.submission_id}: cancel requested (was {sub.cached_state.value})")


@click.command("watch")
@click.option("--once", is_flag=True, help="Print the table once and exit.")
@click.option("--interval-s", default=2.0, show_default=True, type=click.FloatRange(0.1))
@click.option("--recent", default=10, show_default=True, type=click.IntRange(0, 100))
def watch(once: bool, interval_s: float, recent: int) -> None:
    """Live counts of submissions by state, the create rate per (project, location) (effective
    / configured: lowered by Google's 429s), the scheduler's queues per tenant, each place's
    poll schedule, and the most recent submissions."""
    from rich.console import Console
    from rich.live import Live

    client = _client()
    console = Console()
    if once:
        console.print(_watch_view(client, recent))
        return
    with Live(_watch_view(client, recent), console=console, auto_refresh=False) as live:
        try:
            while True:
                time.sleep(interval_s)
                live.update(_watch_view(client, recent), refresh=True)
        except KeyboardInterrupt:
            pass


def _watch_view(client: Client, recent: int) -> Any:
    from rich.console import Group
    from rich.table import Table

    from vbq.states import SubmissionState

    counts = client.counts_by_state()
    by_state = Table(title="submissions by state")
    by_state.add_column("state")
    by_state.add_column("count", justify="right")
    for st in SubmissionState:
        if counts.get(st):
            by_state.add_row(st.value, str(counts[st]))
    by_state.add_row("total", str(sum(counts.values())), style="bold")
    latest = Table(title=f"latest {recent}")
    for name in ("submission", "state", "tenant", "display name"):
        latest.add_column(name)
    if recent:
        page, _ = client.list(page_size=recent)
        for sub in page:
            rec = sub.record
            latest.add_row(rec.id, rec.state.value, rec.tenant, sub.display_name or "")
    from vbq.cli.polls import poll_table
    from vbq.cli.queues import queue_rows, queue_table

    queues = queue_table(queue_rows(client))
    return Group(by_state, _rates_table(client), queues, poll_table(client), latest)


def _rates_table(client: Client) -> Any:
    """Effective / configured create rate per pool (vbq.quota.adaptive)."""
    from rich.table import Table

    from vbq.quota.adaptive import read_rates

    table = Table(title="create rate")
    for name in ("project", "location", "effective /s", "configured /s", "429s", "last 429"):
        table.add_column(name, justify="right" if name.endswith(("/s", "s")) else "left")
    redis = getattr(client.store, "redis", None)
    if redis is None:
        return table
    for row in read_rates(redis, client.settings):
        age = "-" if row.last_429_age_s is None else f"{row.last_429_age_s:.0f} s ago"
        style = "yellow" if row.effective_per_s < row.ceiling_per_s else None
        table.add_row(
            row.project,
            row.location,
            f"{row.effective_per_s:.2f}",
            f"{row.ceiling_per_s:.2f}",
            str(row.throttled),
            age,
            style=style,
        )
    return table


def register(group: click.Group) -> None:
    """Attach the job commands to the root group."""
    for command in (submit, status, list_submissions, cancel, watch):
        group.add_command(command)
