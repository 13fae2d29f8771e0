"""Jinja2 templates of the console (package data), with the few filters they use."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from vbq import __version__

__all__ = ["SECURITY_HEADERS", "STATIC_DIR", "TEMPLATE_DIR", "environment", "render"]

HERE = Path(__file__).resolve().parent
TEMPLATE_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

SECURITY_HEADERS = {
    # Scripts and styles only from this origin (htmx is served locally), nothing framed.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Pages hold one tenant's data: never from a shared cache or the back-forward cache.
    "Cache-Control": "no-store",
}


def when(epoch_s: float | None) -> str:
    """``2026-11-26 21:20:12 UTC`` (empty for None)."""
    if not epoch_s:
        return ""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(epoch_s: float | None) -> str:
    """ISO 8601 in UTC with milliseconds, for ``<time datetime>``."""
    if not epoch_s:
        return ""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds")


def clock(epoch_s: float | None) -> str:
    """``21:20:12.345`` (UTC), for timeline rows close in time."""
    if not epoch_s:
        return ""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%H:%M:%S.%f")[:-3]


def duration(seconds: float | None) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 4 min`` (empty for None)."""
    if seconds is None:
        return ""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def number(value: float | int | None) -> str:
    """``1,234`` (``1,234.5`` for a fraction)."""
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def size(n: int) -> str:
    """``1.2 MB`` (decimal units)."""
    value = float(n)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def pretty(value: Any) -> str:
    """Indented JSON."""
    return json.dumps(value, indent=2, sort_keys=True, default=str)


@cache
def environment() -> jinja2.Environment:
    """The console's template environment (autoescaped, undefined names are errors)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when, iso=iso, clock=clock, duration=duration, number=number, size=size, pretty=pretty
    )
    env.globals["version"] = __version__
    return env


def render(
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render ``template`` with ``context`` into a response carrying the security headers."""
    html = environment().get_template(template).render(**context)
    return HTMLResponse(
        html, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})}
    )
