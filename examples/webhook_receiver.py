"""An example receiver for vbq's webhook action: verify, deduplicate, act once per event.

vbq's webhook delivers *at least once* (it retries, and Pub/Sub redelivers), so a receiver
must make acting idempotent. This one:

1. refuses a request whose ``X-Vbq-Signature`` does not match (401), whose
   ``X-Vbq-Timestamp`` is more than 5 minutes away from now (401: a replay), or that lacks
   either header or a matching ``X-Vbq-Event-Id`` (400); the signature check is constant-time;
2. records the event id in SQLite inside the same transaction as the action, so an event is
   acted on once; a duplicate gets 200 without acting again;
3. if the action raises, rolls back and answers 500, so vbq retries it.

Run::

    WEBHOOK_SECRET=... python examples/webhook_receiver.py --port 8080 --db receiver.sqlite

``WEBHOOK_SECRET`` may hold several comma-separated secrets while rotating. The default action
appends the event as one line to ``--actions-log`` (``acted.jsonl``); in your own service pass
``on_event`` to :func:`create_app`.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from vbq.subscribers.actions.signature import (
    DEFAULT_TOLERANCE_S,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureCheck,
    verify,
)

__all__ = ["EventLog", "append_to_file", "create_app", "main"]

OnEvent = Callable[[dict[str, Any]], None]
_STATUS = {
    SignatureCheck.MISSING: 400,
    SignatureCheck.MALFORMED: 400,
    SignatureCheck.STALE: 401,
    SignatureCheck.BAD_SIGNATURE: 401,
}


class EventLog:
    """Event ids already acted on, in SQLite (survives restarts; shared by processes).

    Args:
        path: the database file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS events (event_id TEXT PRIMARY KEY, acted_at REAL)"
        )

    def act_once(self, event_id: str, act: Callable[[], None]) -> bool:
        """Run ``act`` unless ``event_id`` was acted on; record it in the same transaction.

        Returns:
            True when ``act`` ran, False for a duplicate.

        Raises:
            Exception: whatever ``act`` raised (the id is then not recorded).
        """
        with self._lock:
            # IMMEDIATE takes the write lock first: two processes never both see "new".
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO events (event_id, acted_at) VALUES (?, ?)",
                    (event_id, time.time()),
                )
                if cur.rowcount == 0:
                    self._db.execute("COMMIT")
                    return False
                act()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return True

    def count(self) -> int:
        """How many events were acted on."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM events").fetchone()
        return int(row[0])


def append_to_file(path: str | Path) -> OnEvent:
    """An action that appends each event as one JSON line to ``path``."""

    def act(event: dict[str, Any]) -> None:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(event, separators=(",", ":")) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    return act


def create_app(
    *,
    secrets: Sequence[str],
    db_path: str | Path,
    on_event: OnEvent,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> Starlette:
    """The receiver: ``POST /webhook``, ``GET /stats``.

    Args:
        secrets: accepted signing secrets (non-empty).
        db_path: SQLite file of acted event ids.
        on_event: the action, called once per event id with the event as a dict.
        tolerance_s: largest accepted timestamp age, in seconds.

    Raises:
        ValueError: no secret given.
    """
    if not secrets or not all(secrets):
        raise ValueError("give at least one non-empty secret")
    log = EventLog(db_path)
    counts = {"received": 0, "refused": 0, "duplicates": 0, "acted": 0}
    lock = threading.Lock()

    def bump(name: str) -> None:
        with lock:
            counts[name] += 1

    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        bump("received")
        check = verify(
            secrets=secrets,
            body=body,
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(SIGNATURE_HEADER),
            tolerance_s=tolerance_s,
        )
        if check is not SignatureCheck.OK:
            bump("refused")
            return JSONResponse({"error": check.value}, status_code=_STATUS[check])
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        event_id = request.headers.get(EVENT_ID_HEADER, "")
        if not isinstance(event, dict) or not event_id or event.get("event_id") != event_id:
            bump("refused")
            return JSONResponse({"error": "event_id mismatch"}, status_code=400)
        try:
            acted = await run_in_threadpool(log.act_once, event_id, lambda: on_event(event))
        except Exception as exc:
            return JSONResponse({"error": f"action failed: {type(exc).__name__}"}, 500)
        bump("acted" if acted else "duplicates")
        return JSONResponse({"event_id": event_id, "duplicate": not acted})

    async def stats(_request: Request) -> JSONResponse:
        with lock:
            snapshot = dict(counts)
        return JSONResponse({**snapshot, "events": log.count()})

    return Starlette(
        routes=[
            Route("/webhook", webhook, methods=["POST"]),
            Route("/stats", stats, methods=["GET"]),
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the receiver with uvicorn (secrets from ``WEBHOOK_SECRET``)."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--db", default="receiver.sqlite", help="SQLite file of acted ids")
    parser.add_argument("--actions-log", default="acted.jsonl", help="where the action writes")
    parser.add_argument("--secret-env", default="WEBHOOK_SECRET")
    args = parser.parse_args(argv)
    secrets = [s for s in os.environ.get(args.secret_env, "").split(",") if s]
    if not secrets:
        sys.exit(f"set {args.secret_env} to the webhook secret")
    app = create_app(secrets=secrets, db_path=args.db, on_event=append_to_file(args.actions_log))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
