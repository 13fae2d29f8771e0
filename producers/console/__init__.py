"""The web console of ``vbq api``: where is my job, who is using the quota, what happened.

Server-rendered pages (Jinja2) with htmx for live parts, served by the API process under
``/console`` with the same API keys (a tenant key sees its tenant, an admin key every tenant).
htmx is vendored (``static/htmx.min.js``, pinned, license beside it): no front-end build, no
network beyond the API itself. See :mod:`vbq.producers.console.routes` for the pages.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from vbq.producers.api.auth import KeyLookup
from vbq.producers.client import Client
from vbq.producers.console.quota import QuotaSource, StoreQuotaSource
from vbq.producers.console.render import STATIC_DIR
from vbq.producers.console.routes import console_router
from vbq.producers.console.session import Viewer
from vbq.store import JobStore

__all__ = ["QuotaSource", "StoreQuotaSource", "Viewer", "console_router", "mount_console"]


def mount_console(
    app: FastAPI, *, client: Client, keyring: KeyLookup, quota: QuotaSource | None = None
) -> None:
    """Serve the console on ``app`` under ``/console`` (static assets at ``/console/static``).

    Args:
        app: the API application.
        client: the API's client (its store is read; cancels go through it).
        keyring: the API keys.
        quota: the quota figures' source (default: :class:`StoreQuotaSource`).
    """
    store = client.store if isinstance(client.store, JobStore) else None
    if store is None:
        store = JobStore.from_settings(client.settings)
    source = quota or StoreQuotaSource(redis=store.redis, settings=client.settings)
    app.include_router(console_router(client=client, store=store, keyring=keyring, quota=source))
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
