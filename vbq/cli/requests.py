"""``vbq request add|status`` and ``vbq usage``: single Gemini requests and token totals.

``vbq request add FILE.jsonl`` reads Google's batch input lines (``{"request": {...}}``), each
optionally with ``model``, ``idempotency_key`` and ``metadata`` (``--model`` for lines that
name none), streamed in chunks so a big file never sits in memory, and prints one request id
per line. ``vbq usage`` shows the token totals per tenant and per model.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import click

__all__ = ["register"]

_CHUNK = 5000


def _client() -> Any:
    from vbq.errors import ConfigError
    from vbq.producers.client import Client

    try:
        return Client.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _lines(handle: TextIO, source: str) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError as exc:
            yield number, ValueError(f"{source}:{number}: not JSON: {exc}")


@click.group("request")
def request_group() -> None:
    """Single Gemini requests, packed into batch jobs."""


@request_group.command("add")
@click.argument("files", nargs=-1, required=True)
@click.option("--model", default=None, help="Model of lines that name none (gemini-…).")
@click.option("--tenant", default="default", show_default=True, help="Owner of the requests.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON result per line.")
def add(files: tuple[str, ...], model: str | None, tenant: str, as_json: bool) -> None:
    """Add the requests of FILES (JSON lines; ``-`` = stdin); prints one id per line and exits
    1 if any line was refused."""
    from vbq.errors import ConfigError

    client = _client()
    failed = False
    for path in files:
        try:
            handle = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            click.echo(f"error: {exc}", err=True)
            failed = True
            continue
        with handle:
            chunk: list[tuple[int, Any]] = []
            for item in _lines(handle, path):
                chunk.append(item)
                if len(chunk) >= _CHUNK:
                    failed |= _add_chunk(
                        client, chunk, source=path, model=model, tenant=tenant, as_json=as_json
                    )
                    chunk = []
            if chunk:
                try:
                    failed |= _add_chunk(
                        client, chunk, source=path, model=model, tenant=tenant, as_json=as_json
                    )
                except ConfigError as exc:
                    raise click.ClickException(str(exc)) from None
    if failed:
        sys.exit(1)


def _add_chunk(
    client: Any,
    chunk: list[tuple[int, Any]],
    *,
    source: str,
    model: str | None,
    tenant: str,
    as_json: bool,
) -> bool:
    items: list[Any] = []
    for _, value in chunk:
        if isinstance(value, Exception):
            items.append(None)
        elif isinstance(value, dict) and model and "model" not in value:
            items.append({**value, "model": model})
        else:
            items.append(value)
    batch = client.add_requests(items, tenant=tenant)
    if as_json:
        for index, handle in batch.handles:
            click.echo(json.dumps({"line": chunk[index][0], **handle.to_dict()}))
    else:
        for request_id in batch.request_ids:
            click.echo(request_id)
    for err in batch.errors:
        number, value = chunk[err.index]
        if isinstance(value, Exception):
            click.echo(str(value), err=True)
            continue
        for e in err.errors:
            click.echo(f"{source}:{number}: {e['field']}: {e['message']} [{e['rule']}]", err=True)
    return bool(batch.errors)


@request_group.command("status")
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True, help="Print the request as JSON.")
@click.option("--response", "with_response", is_flag=True, help="Also read its response.")
@click.option("--wait-s", type=float, default=None, help="Wait up to this long for the answer.")
def status(request_id: str, as_json: bool, with_response: bool, wait_s: float | None) -> None:
    """Show one request (state, job, tokens, error; ``--response`` reads the answer)."""
    from vbq.errors import NotFoundError

    try:
        handle = _client().get_request(request_id)
        if wait_s:
            try:
                handle.wait(timeout_s=wait_s)
            except TimeoutError:
                pass
    except NotFoundError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    view = handle.to_dict(with_response=with_response or as_json)
    if as_json:
        click.echo(json.dumps(view, indent=2, default=str))
        return
    for key in ("request_id", "state", "tenant", "model", "submission_id", "job_name"):
        if view.get(key):
            click.echo(f"{key.replace('_', ' '):>13}: {view[key]}")
    click.echo(f"{'tokens':>13}: {view['usage']}")
    if view.get("error"):
        click.echo(f"{'error':>13}: {view['error']}")
    if with_response and handle.text:
        click.echo(f"{'text':>13}: {handle.text}")


@click.command("usage")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def usage(as_json: bool) -> None:
    """Token totals (and estimated cost) per tenant and per model, over finished jobs."""

    from vbq.settings import Settings
    from vbq.usage import UsageLedger

    settings = Settings.from_env()
    from vbq.redisconn import client_for

    client = client_for(settings)
    try:
        ledger = UsageLedger(client)
        data = {kind: [t.to_dict() for t in ledger.totals(kind)] for kind in ("tenant", "model")}
    finally:
        client.close()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for kind, rows in data.items():
        click.echo(f"by {kind}:")
        if not rows:
            click.echo("  (none)")
        for row in rows:
            t = row["tokens"]
            click.echo(
                f"  {row['name']:<40} jobs {row['jobs']:>6}  requests {row['requests']:>9}  "
                f"prompt {t['prompt']:>12}  output {t['candidates'] + t['thoughts']:>12}  "
                f"total {t['total']:>12}  cost {row['cost']:.4f}"
            )


def register(group: click.Group) -> None:
    """Attach ``vbq request`` and ``vbq usage``."""
    group.add_command(request_group)
    group.add_command(usage)
