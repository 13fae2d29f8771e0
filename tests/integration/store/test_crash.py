"""A Redis crash (SIGKILL, AOF on) never splits a transition from its outbox event."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import redis

from tests.support.services import RedisServer
from tests.unit.store.specs import make_specs
from vbq.events import JobEvent
from vbq.settings import Settings
from vbq.states import SubmissionState as S
from vbq.store import JobStore, NewSubmission


def test_kill_redis_mid_transitions_keeps_state_and_outbox_together(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    try:
        settings = Settings(redis_url=server.url, project="proj-a", location="us-central1")
        store = JobStore.from_settings(settings)
        made = store.create_many([NewSubmission(spec=s) for s in make_specs(3000)])
        ids = [r[0].id for r in made if isinstance(r, tuple)]
        acknowledged: list[str] = []

        def mover() -> None:
            for sid in ids:
                event = JobEvent.create(
                    type="job.submitted",
                    submission_id=sid,
                    state="SUBMITTED",
                    previous_state="ACCEPTED",
                )
                try:
                    store.transition(
                        sid,
                        expected={S.ACCEPTED},
                        new_state=S.SUBMITTED,
                        updates={"job_name": f"jobs/{sid}"},
                        event=event,
                    )
                except redis.RedisError:
                    return
                acknowledged.append(sid)

        thread = threading.Thread(target=mover)
        thread.start()
        deadline = time.monotonic() + 20
        while len(acknowledged) < 100 and time.monotonic() < deadline:
            time.sleep(0.005)
        server.kill()  # SIGKILL while transitions are in flight
        thread.join(timeout=30)
        assert 0 < len(acknowledged) < len(ids), "the kill must land mid-run"
        server.start()

        client = redis.Redis.from_url(server.url, decode_responses=True)
        events = {
            JobEvent.from_json(f["event"]).submission_id for _, f in client.xrange("vbq:outbox")
        }
        records = store.get_many(ids)
        submitted = {r.id for r in records if r.state is S.SUBMITTED}
        # Every acknowledged transition survived (appendfsync always) ...
        assert set(acknowledged) <= submitted
        # ... and state, outbox, in-flight index and version moved together, or not at all.
        assert submitted == events
        assert client.xlen("vbq:outbox") == len(events)
        assert set(client.zrange("vbq:inflight:proj-a:us-central1", 0, -1)) == submitted
        # The poller's location index was written in the same Lua call as the in-flight entry.
        assert client.zrange("vbq:poll:locations", 0, -1) == ["proj-a:us-central1"]
        for r in records:
            assert r.version == (2 if r.id in submitted else 1)
        client.close()
        store.close()
    finally:
        server.stop()
