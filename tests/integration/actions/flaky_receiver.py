"""The example webhook receiver behind a test-only outage (run as a process by the tests).

For ``--fail-for-s`` seconds after the first ``POST /webhook`` every such request fails with
500, alternating two ways: refused before the receiver sees it, or handed to the receiver (it
acts) and then answered 500 anyway (a lost response, so the sender's retry is a duplicate).
``GET /outage`` reports both counts.

    python -m tests.integration.actions.flaky_receiver --port P --db F --acted F --fail-for-s 3
"""

from __future__ import annotations

import argparse
import itertools
import os
import threading
import time
from typing import Any

import uvicorn
from starlette.types import Message, Receive, Scope, Send

from examples.webhook_receiver import append_to_file, create_app


def build(*, secret: str, db: str, acted: str, fail_for_s: float) -> Any:
    inner = create_app(secrets=[secret], db_path=db, on_event=append_to_file(acted))
    lock = threading.Lock()
    state: dict[str, Any] = {"first": None, "refused": 0, "lost": 0}
    turn = itertools.count()

    async def send_500(send: Send) -> None:
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"outage"})

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        if scope["path"] == "/outage":
            body = f'{{"refused": {state["refused"]}, "lost": {state["lost"]}}}'.encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        if scope["path"] != "/webhook":
            await inner(scope, receive, send)
            return
        with lock:
            now = time.monotonic()
            if state["first"] is None:
                state["first"] = now
            in_outage = now - state["first"] < fail_for_s
            lose = next(turn) % 2 == 1
        if not in_outage:
            await inner(scope, receive, send)
            return
        if not lose:
            while (await receive()).get("more_body"):
                pass
            with lock:
                state["refused"] += 1
            await send_500(send)
            return

        async def swallow(_message: Message) -> None:
            return None

        await inner(scope, receive, swallow)
        with lock:
            state["lost"] += 1
        await send_500(send)

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--acted", required=True)
    parser.add_argument("--fail-for-s", type=float, default=0.0)
    args = parser.parse_args()
    app = build(
        secret=os.environ["WEBHOOK_SECRET"],
        db=args.db,
        acted=args.acted,
        fail_for_s=args.fail_for_s,
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
