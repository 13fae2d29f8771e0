"""Delete at Google the Vertex jobs of submissions deleted from vbq (``vbq.purge``).

Deleting a finished job through vbq (the Google surface's ``DELETE``, ``Client.delete``)
removes its record at once and, in the same Lua call, adds its Vertex job name to the zset
``vbq:vertex:deletes``. Each run takes the oldest names, spends one read-bucket token per
call (deletes are CRUD calls, limited like get/list/cancel) and removes a name once Google
confirmed the delete or answered 404 (already gone). Transient errors (429, 5xx, timeouts)
end the run and leave the rest for the next one; a permanent refusal is logged and dropped,
as retrying cannot change it. Two runs racing on a name cost one 404, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import redis as redis_lib

from vbq.errors import VertexError, VertexPermanentError
from vbq.logs import get_logger
from vbq.store.keys import VERTEX_DELETES_KEY

__all__ = ["PurgeReport", "Purger"]

_log = get_logger("vbq.workers.purger")


class _Limiter(Protocol):
    def acquire_blocking(self, kind: str, project: str, location: str, timeout_s: float) -> Any:
        """A granting decision (``allowed``) or the last refusal."""


class _Vertex(Protocol):
    def delete_batch_prediction_job(self, name: str) -> dict[str, Any]:
        """Send ``DELETE /v1/{name}``; the Operation."""


@dataclass
class PurgeReport:
    """What one run did: names deleted at Google, already gone, dropped, left for later."""

    deleted: int = 0
    gone: int = 0
    dropped: int = 0
    left: int = 0


class Purger:
    """Drains ``vbq:vertex:deletes`` (see the module docstring).

    Args:
        redis: the vbq Redis.
        vertex: the Vertex client.
        limiter: the global rate limiter (``read`` kind).
        batch: most names per run.
        read_wait_s: longest wait for one read token, in seconds.
    """

    def __init__(
        self,
        *,
        redis: redis_lib.Redis,
        vertex: _Vertex,
        limiter: _Limiter,
        batch: int = 100,
        read_wait_s: float = 5.0,
    ) -> None:
        self.redis = redis
        self.vertex = vertex
        self.limiter = limiter
        self.batch = batch
        self.read_wait_s = read_wait_s

    def run(self) -> PurgeReport:
        """One run over the oldest ``batch`` names."""
        report = PurgeReport()
        names = [_text(n) for n in self.redis.zrange(VERTEX_DELETES_KEY, 0, self.batch - 1)]
        for index, name in enumerate(names):
            parts = name.split("/")
            if len(parts) != 6 or parts[0] != "projects" or parts[2] != "locations":
                _log.warning("purge.malformed_name", name=name[:200])
                self.redis.zrem(VERTEX_DELETES_KEY, name)
                report.dropped += 1
                continue
            got = self.limiter.acquire_blocking("read", parts[1], parts[3], self.read_wait_s)
            if not got or getattr(got, "allowed", True) is False:
                report.left += len(names) - index
                break
            try:
                self.vertex.delete_batch_prediction_job(name)
                report.deleted += 1
            except VertexPermanentError as exc:
                if exc.status_code == 404:
                    report.gone += 1
                else:
                    _log.warning("purge.refused", name=name, error=str(exc))
                    report.dropped += 1
            except VertexError as exc:
                _log.info("purge.retry_later", name=name, error=str(exc))
                report.left += len(names) - index
                break
            self.redis.zrem(VERTEX_DELETES_KEY, name)
        if names:
            _log.info("purge.run", **vars(report))
        return report


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
