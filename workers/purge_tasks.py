"""The ``vbq.purge`` task (queue ``vbq.maintenance``) that beat sends every few seconds."""

from __future__ import annotations

from typing import Any

from vbq.workers.celery_app import app
from vbq.workers.deps import PerProcess, settings_and_redis
from vbq.workers.purger import Purger

__all__ = ["purge"]


def _build() -> Purger:
    from vbq.quota.ratelimit import RateLimiter
    from vbq.vertex import VertexClient

    settings, client = settings_and_redis()
    return Purger(
        redis=client,
        vertex=VertexClient.from_settings(settings),
        limiter=RateLimiter(client, settings=settings),
    )


_purger: PerProcess[Purger] = PerProcess(_build)


@app.task(name="vbq.purge", ignore_result=True, acks_late=False)
def purge() -> dict[str, Any]:
    """Delete at Google the Vertex jobs of submissions deleted from vbq; returns the counts."""
    return vars(_purger.get().run())
