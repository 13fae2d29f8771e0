"""``vbq doctor``: check configuration, credentials and every service vbq talks to.

One screen of OK / WARN / FAIL with what is wrong; exit status 1 when anything failed. URLs are
printed with passwords redacted, and error texts pass through the redaction filter.

Checks, in order (a failed configuration stops the rest, which would only repeat it):

- ``config``: ``Settings.from_env()`` parses; ``VBQ_PROJECT`` is set; unknown ``VBQ_*``
  variables (typos such as ``VBQ_CREATE_RATE_PER_MINUTE``) are a WARN.
- ``credentials``: anonymous for the emulators, else ``google.auth.default()``.
- ``redis``, ``broker``: a PING / connection with a short timeout.
- ``vertex``: a ``batchPredictionJobs.list`` call with ``pageSize=1``.
- ``pubsub topic``, ``pubsub subscription``: ``GetTopic`` / ``GetSubscription``.
- ``create rate``: the effective create rate per (project, location); WARN while Google's
  429s hold it below the configured rate (:mod:`vbq.quota.adaptive`).
- ``retention``: how long finished submissions stay and where they are archived; WARN with
  ``VBQ_RETENTION_S=0`` or when expiry is over an hour behind
  (:mod:`vbq.archive.status`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import click

from vbq.settings import Settings

_T = TypeVar("_T")

__all__ = ["CheckResult", "doctor", "register", "run_checks"]

Status = Literal["OK", "WARN", "FAIL"]


@dataclass(frozen=True)
class CheckResult:
    """One line of the report.

    Attributes:
        name: what was checked.
        status: ``OK``, ``WARN`` (works, but look) or ``FAIL``.
        detail: what was found or what is wrong (secrets redacted).
    """

    name: str
    status: Status
    detail: str


def _error_text(exc: BaseException) -> str:
    from vbq.redaction import redact_text

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return redact_text(f"{type(exc).__name__}: {text}")[:240]


def _run(name: str, func: Callable[[], str]) -> CheckResult:
    try:
        return CheckResult(name, "OK", func())
    except Exception as exc:
        return CheckResult(name, "FAIL", _error_text(exc))


def run_checks(
    env: Mapping[str, str] | None = None, *, timeout_s: float = 3.0
) -> list[CheckResult]:
    """Run every check against ``env`` (default: ``os.environ``); never raises."""
    from vbq.errors import ConfigError
    from vbq.readiness import broker_check, redis_check
    from vbq.redaction import redact_url

    try:
        settings = Settings.from_env(env)
    except ConfigError as exc:
        return [CheckResult("config", "FAIL", _error_text(exc))]
    results: list[CheckResult] = []
    if not settings.project:
        results.append(CheckResult("config", "FAIL", "VBQ_PROJECT is not set"))
        return results
    if settings.extra:
        unknown = ", ".join(sorted(settings.extra))
        results.append(CheckResult("config", "WARN", f"unknown variables (typos?): {unknown}"))
    else:
        results.append(
            CheckResult("config", "OK", f"project {settings.project}, location {settings.location}")
        )
    results.append(_run("credentials", lambda: _credentials(settings)))

    def _redis() -> str:
        redis_check(settings.redis_url, timeout_s=timeout_s)()
        return redact_url(settings.redis_url)

    broker_url = settings.broker_url or settings.redis_url

    def _broker() -> str:
        broker_check(broker_url, timeout_s=timeout_s)()
        return redact_url(broker_url)

    results.append(_run("redis", _redis))
    results.append(_rates(settings, timeout_s))
    results.append(_retention(settings, timeout_s))
    results.append(_run("broker", _broker))
    results.append(_run("vertex", lambda: _vertex(settings, timeout_s)))
    results.append(_run("pubsub topic", lambda: _topic(settings, timeout_s)))
    results.append(_run("pubsub subscription", lambda: _subscription(settings, timeout_s)))
    return results


def _read_redis(settings: Settings, timeout_s: float, read: Callable[[Any], _T]) -> _T:
    """``read(client)`` on a short-lived Redis client that answers within ``timeout_s``."""
    from vbq.redisconn import connect

    # A check answers within its timeout: no riding out a failover here.
    client = connect(
        settings.redis_url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        failover_timeout_s=0.0,
    )
    try:
        return read(client)
    finally:
        client.close()


def _retention(settings: Settings, timeout_s: float) -> CheckResult:
    from vbq.archive.status import retention_status

    try:
        status = _read_redis(settings, timeout_s, lambda c: retention_status(c, settings))
    except Exception as exc:
        return CheckResult("retention", "FAIL", _error_text(exc))
    return CheckResult("retention", status.level, status.text)


def _rates(settings: Settings, timeout_s: float) -> CheckResult:
    from vbq.quota.adaptive import read_rates

    try:
        rows = _read_redis(settings, timeout_s, lambda c: read_rates(c, settings))
    except Exception as exc:
        return CheckResult("create rate", "FAIL", _error_text(exc))
    text = "; ".join(
        f"{r.project}/{r.location}: {r.effective_per_s:.2f}/s of {r.ceiling_per_s:.2f}/s"
        + (f" ({r.throttled} 429s, last {r.last_429_age_s:.0f} s ago)" if r.throttled else "")
        for r in rows
    )
    lowered = any(r.effective_per_s < r.ceiling_per_s for r in rows)
    mode = "adaptive" if settings.adaptive_rate else "fixed"
    return CheckResult("create rate", "WARN" if lowered else "OK", f"{mode}: {text}")


def _credentials(settings: Settings) -> str:
    if settings.uses_vertex_emulator and settings.pubsub_emulator_host:
        return "anonymous (emulators)"
    import google.auth

    creds, project = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    who = getattr(creds, "service_account_email", None) or type(creds).__name__
    return f"application default credentials: {who} (ADC project {project or '-'})"


def _vertex(settings: Settings, timeout_s: float) -> str:
    from vbq.vertex import VertexClient

    parent = f"projects/{settings.project}/locations/{settings.location}"
    with VertexClient.from_settings(settings, timeout_s=timeout_s) as client:
        page = client.list_batch_prediction_jobs(parent, page_size=1, timeout_s=timeout_s)
    return f"{settings.vertex_base_url()} list {parent}: {len(page.jobs)} job(s) on page 1"


def _topic(settings: Settings, timeout_s: float) -> str:
    from vbq.pubsub.admin import publisher_client

    path = settings.events_topic_path()
    client = publisher_client(settings, enable_message_ordering=False)
    try:
        client.get_topic(request={"topic": path}, timeout=timeout_s, retry=None)
    finally:
        client.transport.close()
    return path


def _subscription(settings: Settings, timeout_s: float) -> str:
    from vbq.pubsub.admin import subscriber_client

    path = settings.events_subscription_path()
    client = subscriber_client(settings)
    try:
        client.get_subscription(request={"subscription": path}, timeout=timeout_s, retry=None)
    finally:
        client.close()
    return path


@click.command()
@click.option(
    "--timeout-s",
    type=click.FloatRange(min=0.1),
    default=3.0,
    show_default=True,
    help="Timeout of each network check in seconds.",
)
def doctor(timeout_s: float) -> None:
    """Check configuration, credentials, Redis, the broker, Vertex AI and Pub/Sub.

    Exit status 1 when a check failed."""
    from rich.console import Console
    from rich.table import Table

    from vbq.logs import configure_logging

    configure_logging(log_format="console", level="ERROR")  # the table is the output

    results = run_checks(timeout_s=timeout_s)
    table = Table(title="vbq doctor", show_lines=False)
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    colour = {"OK": "green", "WARN": "yellow", "FAIL": "red"}
    for r in results:
        table.add_row(r.name, f"[{colour[r.status]}]{r.status}[/]", r.detail)
    Console(width=120).print(table)
    if any(r.status == "FAIL" for r in results):
        raise SystemExit(1)


def register(group: click.Group) -> None:
    """Attach ``vbq doctor`` to the root group."""
    group.add_command(doctor)
