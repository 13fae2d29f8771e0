"""In-flight slots against a real redis-server: caps under concurrency, leases, recovery."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from tests.unit.store.specs import make_spec
from vbq.quota.slots import Slots, model_slots_key, slots_key
from vbq.settings import Settings
from vbq.states import SubmissionState as S
from vbq.store import JobStore, NewSubmission

P, L = "proj-a", "us-central1"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    yield c
    c.close()


def _slots(client: redis.Redis, cap: int, per_model: int = 0) -> Slots:
    return Slots(client, settings=Settings(max_in_flight=cap, max_in_flight_per_model=per_model))


def test_cap_holds_under_concurrency(client: redis.Redis) -> None:
    cap, per_model = 3, 2
    slots = _slots(client, cap, per_model)
    models = ["m1", "m2"]
    holders: dict[str, int] = {"all": 0, "m1": 0, "m2": 0}
    peaks: dict[str, int] = {"all": 0, "m1": 0, "m2": 0}
    takes = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + 1.5

    def worker(n: int) -> None:
        i = 0
        while time.monotonic() < deadline:
            sid, model = f"w{n}-{i}", models[(n + i) % 2]
            i += 1
            if not slots.try_take(sid, P, L, model, 30).allowed:
                time.sleep(0.001)
                continue
            with lock:
                takes[0] += 1
                for k in ("all", model):
                    holders[k] += 1
                    peaks[k] = max(peaks[k], holders[k])
            time.sleep(0.002)
            with lock:
                for k in ("all", model):
                    holders[k] -= 1
            # Decrement before release: the Python count never exceeds Redis's.
            slots.release(sid, P, L, model)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"takes={takes[0]} peaks={peaks}")
    assert peaks["all"] <= cap and peaks["m1"] <= per_model and peaks["m2"] <= per_model
    assert peaks["all"] == cap  # the cap is reachable, so the test can see a breach
    assert takes[0] > 50
    assert client.zcard(slots_key(P, L)) == 0


def test_take_is_idempotent_and_never_shortens_a_held_slot(client: redis.Redis) -> None:
    slots = _slots(client, 1)
    assert slots.try_take("a", P, L, "m", 5).allowed
    assert slots.try_take("a", P, L, "m", 50).allowed
    assert client.zcard(slots_key(P, L)) == 1
    assert not slots.try_take("b", P, L, "m", 5).allowed
    assert slots.hold("a", P, L, "m")
    assert slots.try_take("a", P, L, "m", 5).allowed
    assert client.zscore(slots_key(P, L), "a") == float("inf")
    assert slots.in_use(P, L) == 1


def test_release_hold_renew(client: redis.Redis) -> None:
    slots = _slots(client, 2, 1)
    assert slots.try_take("a", P, L, "m", 5).allowed
    assert client.zcard(model_slots_key(P, L, "m")) == 1
    assert not slots.try_take("b", P, L, "m", 5).allowed  # model cap
    assert slots.try_take("b", P, L, "other", 5).allowed
    assert slots.release("a", P, L, "m") and not slots.release("a", P, L, "m")
    assert not slots.hold("a", P, L, "m")  # never resurrects a released slot
    assert client.zscore(slots_key(P, L), "a") is None
    assert slots.renew("b", P, L, "other", 100)
    score = client.zscore(slots_key(P, L), "b")
    assert score is not None and score > float(client.time()[0]) + 90
    assert slots.in_use(P, L) == 1 and slots.in_use(P, L, "m") == 0


def test_expired_lease_of_a_crashed_submit_is_recovered(client: redis.Redis) -> None:
    slots = _slots(client, 1)
    assert slots.try_take("crashed", P, L, None, 0.3).allowed
    assert not slots.try_take("next", P, L, None, 5).allowed
    time.sleep(0.4)
    assert slots.in_use(P, L) == 0
    assert slots.try_take("next", P, L, None, 5).allowed
    assert client.zscore(slots_key(P, L), "crashed") is None


def test_lease_of_a_created_job_is_kept(client: redis.Redis, redis_url: str) -> None:
    """The submit task crashed after create + SUBMITTED but before hold: the job still counts."""
    store = JobStore(
        client,
        settings=Settings(redis_url=redis_url, project=P, location=L),
    )
    rec, _ = store.create(NewSubmission(spec=make_spec()))
    slots = _slots(client, 1)
    assert slots.try_take(rec.id, P, L, rec.model, 0.3).allowed
    store.transition(
        rec.id, expected={S.ACCEPTED}, new_state=S.SUBMITTED, updates={"job_name": "jobs/1"}
    )
    time.sleep(0.4)
    assert not slots.try_take("next", P, L, None, 5).allowed
    assert client.zscore(slots_key(P, L), rec.id) == float("inf")

    # The job finishes but the poller dies before release: the next full take sweeps it.
    store.transition(rec.id, expected={S.SUBMITTED}, new_state=S.SUCCEEDED)
    time.sleep(1.05)  # sweeps run at most once a second; the refusal above just ran one
    assert slots.try_take("next", P, L, None, 5).allowed
    assert client.zscore(slots_key(P, L), rec.id) is None
