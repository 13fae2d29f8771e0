"""Streaming-pull diagnostics for chaos subscribers (imported by ``site`` via PYTHONPATH).

When ``VBQ_CHAOS_DIAG_DIR`` is set: Google's client logs (``google.*`` does not propagate by
default) reach the process log, and every 5 s one JSON line per StreamingPullManager goes to
``{dir}/pull-{pid}.jsonl``: leaser size, messages on hold, ordering keys held, and how many of
its gRPC calls are still active (more than one = a stream nobody reads).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

_DIR = os.environ.get("VBQ_CHAOS_DIAG_DIR", "")

if _DIR:
    from google.api_core import bidi
    from google.cloud.pubsub_v1.subscriber._protocol import streaming_pull_manager as spm

    _managers: list[Any] = []
    _calls: dict[int, list[Any]] = {}  # id(ResumableBidiRpc) -> every call it opened
    _path = os.path.join(_DIR, f"pull-{os.getpid()}.jsonl")
    _lock = threading.Lock()

    def _write(record: dict[str, Any]) -> None:
        record["t"] = time.time()
        with _lock, open(_path, "a") as handle:
            handle.write(json.dumps(record, default=str) + "\n")

    _orig_init = spm.StreamingPullManager.__init__

    def _init(self: Any, *args: Any, **kwargs: Any) -> None:
        _orig_init(self, *args, **kwargs)
        _managers.append(self)
        logging.getLogger("google").propagate = True
        logging.getLogger("google.api_core.bidi").setLevel(logging.DEBUG)

    spm.StreamingPullManager.__init__ = _init  # type: ignore[method-assign]

    _orig_open = bidi.BidiRpc.open

    def _open(self: Any) -> None:
        before = self.call
        _orig_open(self)
        _calls.setdefault(id(self), []).append(self.call)
        _write(
            {
                "what": "open",
                "rpc": id(self),
                "call": id(self.call),
                "replaced": id(before) if before is not None else None,
                "replaced_active": bool(before is not None and before.is_active()),
                "thread": threading.current_thread().name,
            }
        )

    bidi.BidiRpc.open = _open  # type: ignore[method-assign]

    def _dump() -> None:
        while True:
            time.sleep(5)
            for m in list(_managers):
                try:
                    rpc = m._rpc
                    calls = _calls.get(id(rpc), []) if rpc is not None else []
                    active = [id(c) for c in calls if c is not None and c.is_active()]
                    hold = m._messages_on_hold
                    _write(
                        {
                            "what": "state",
                            "client_id": m._client_id,
                            "manager_active": m.is_active,
                            "leased": m._leaser.message_count if m._leaser else None,
                            "on_hold": hold.size,
                            "pending_keys": {
                                k: len(v) for k, v in hold._pending_ordered_messages.items()
                            },
                            "paused": bool(m._consumer and m._consumer.is_paused),
                            "current_call": id(rpc.call) if rpc is not None and rpc.call else None,
                            "active_calls": active,
                            "calls_opened": len(calls),
                        }
                    )
                except Exception as exc:  # diagnostics must never break the subscriber
                    _write({"what": "dump_failed", "error": repr(exc)})

    threading.Thread(target=_dump, name="chaos-diag", daemon=True).start()
