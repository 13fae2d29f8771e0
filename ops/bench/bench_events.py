"""Event throughput: vbq's outbox relay + subscriber runtime vs a bare google-cloud-pubsub loop.

Starts a private ``redis-server`` and the Pub/Sub emulator (``vbq emulator pubsub``) on free
ports, then measures, for the same number of events on the same emulator:

* **vbq**: events appended to ``vbq:outbox`` (as the job store does) → :class:`OutboxRelay`
  (lease lock, ordered publish, confirmed ``XDEL``) → emulator → :class:`Subscriber` (parse,
  Redis inbox claim + done mark, handler, ack). Clock: first append → last handler return.
* **bare**: ``PublisherClient.publish`` with the same data, attributes and ordering keys →
  emulator → ``SubscriberClient.subscribe`` callback that only acks. Clock: first publish →
  last callback.

Both run in this process (relay and subscriber in threads), so the comparison shows what vbq's
guarantees cost on top of the client library, not process parallelism. The contention is the
same on both sides: the bare publisher shares the process (and the GIL) with the bare subscriber
just as the relay shares it with vbq's subscriber; both subscribers use the same flow control
(``subscriber_max_messages`` outstanding). (In production the relay runs in ``vbq beat`` and
the subscriber in ``vbq subscribe``; measuring that split against a one-process bare loop would
not be a fair comparison.)

Where the two differ is the publishing: the bare loop uses ``PublisherClient.publish``, which
batches per ordering key, so with one key per submission it sends one Publish request (and
starts one commit thread) per event; the relay's :class:`BatchedPublisher` packs many keys into
each request, keeping one request in flight per key (order per key as the client keeps it).
Before it did (the relay on the client's per-key batches), the ratio was 0.56-0.69 here.

Run from the repository root::

    .venv/bin/python -m ops.bench.bench_events --events 5000

Prints a markdown table row: events, vbq events/s, bare events/s, ratio (vbq / bare).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
from google.cloud import pubsub_v1

from tests.support.pubsub import PubSubEmulator
from tests.support.services import RedisServer
from vbq.events import JobEvent
from vbq.pubsub.admin import ensure_event_resources, publisher_client, subscriber_client
from vbq.pubsub.event_schema import TopicEncoding
from vbq.settings import Settings
from vbq.subscribers import HandlerRegistry, Subscriber
from vbq.workers.relay import OUTBOX_KEY, OutboxRelay

STATES = [
    ("job.submitted", "SUBMITTED"),
    ("job.pending", "PENDING"),
    ("job.running", "RUNNING"),
    ("job.succeeded", "SUCCEEDED"),
]


def make_events(count: int) -> list[JobEvent]:
    """``count`` events with distinct ids: ``count / 4`` jobs, four states each, in order."""
    jobs = (count + len(STATES) - 1) // len(STATES)
    out: list[JobEvent] = []
    for type_, state in STATES:
        for j in range(jobs):
            if len(out) < count:
                out.append(
                    JobEvent.create(
                        type=type_,
                        submission_id=f"{j:032x}",
                        state=state,
                        previous_state=None,
                        job={"name": f"projects/p/locations/l/batchPredictionJobs/{j}"},
                    )
                )
    return out


class _Counter:
    def __init__(self, target: int) -> None:
        self.n = 0
        self.target = target
        self.done = threading.Event()
        self._lock = threading.Lock()

    def hit(self) -> None:
        with self._lock:
            self.n += 1
            if self.n >= self.target:
                self.done.set()


def bench_vbq(settings: Settings, events: list[JobEvent], timeout_s: float) -> float:
    """Events/s through outbox → relay → emulator → subscriber runtime → handler."""
    ensure_event_resources(settings)
    r = redis.Redis.from_url(settings.redis_url)
    counter = _Counter(len(events))
    registry = HandlerRegistry()
    registry.add(lambda _event: counter.hit())
    sub = Subscriber(settings=settings, redis=r, registry=registry, threads=10)
    relay = OutboxRelay.from_settings(settings)
    stop = threading.Event()
    sub_thread = threading.Thread(target=sub.run, args=(stop,), daemon=True)
    sub_thread.start()
    time.sleep(0.5)  # let the stream open before the clock starts
    relay_thread = relay.start_thread(stop)
    t0 = time.perf_counter()
    pipe = r.pipeline(transaction=False)
    for i, ev in enumerate(events):
        pipe.xadd(OUTBOX_KEY, {"event": ev.to_json()})
        if i % 500 == 499:
            pipe.execute()
    pipe.execute()
    finished = counter.done.wait(timeout_s)
    elapsed = time.perf_counter() - t0
    stop.set()
    relay_thread.join(15)
    sub_thread.join(settings.shutdown_grace_s + 5)
    relay.close()
    sub.close()
    if not finished:
        raise SystemExit(f"vbq: only {counter.n}/{len(events)} events within {timeout_s}s")
    return len(events) / elapsed


def bench_bare(settings: Settings, events: list[JobEvent], timeout_s: float) -> float:
    """Events/s through a bare ordered publish → emulator → subscribe-and-ack loop."""
    res = ensure_event_resources(settings)
    counter = _Counter(len(events))

    def callback(message: pubsub_v1.subscriber.message.Message) -> None:
        message.ack()
        counter.hit()

    subscriber = subscriber_client(settings)
    future = subscriber.subscribe(
        res.subscription,
        callback=callback,
        flow_control=pubsub_v1.types.FlowControl(max_messages=settings.subscriber_max_messages),
    )
    publisher = publisher_client(settings, enable_message_ordering=True)
    encoding = TopicEncoding(settings)  # the topic validates vbq's schema: same data as the relay
    encoding.close()
    time.sleep(0.5)
    t0 = time.perf_counter()
    futures = [
        publisher.publish(
            res.topic, encoding.encode(ev), ordering_key=ev.ordering_key, **ev.attributes()
        )
        for ev in events
    ]
    for f in futures:
        f.result(timeout=timeout_s)
    finished = counter.done.wait(timeout_s)
    elapsed = time.perf_counter() - t0
    future.cancel()
    try:
        future.result(timeout=10)
    except Exception:  # the stream is being shut down; its end state does not matter
        pass
    publisher.stop()
    subscriber.close()
    if not finished:
        raise SystemExit(f"bare: only {counter.n}/{len(events)} events within {timeout_s}s")
    return len(events) / elapsed


def main(argv: list[str] | None = None) -> int:
    """Run both benchmarks and print the markdown row."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--timeout-s", type=float, default=60.0, help="per benchmark")
    parser.add_argument("--header", action="store_true", help="print the table header too")
    args = parser.parse_args(argv)

    events = make_events(args.events)
    with tempfile.TemporaryDirectory(prefix="vbq-bench-events-") as tmp:
        base = Path(tmp)
        redis_server = RedisServer(base / "redis", appendonly=True).start()
        emulator = PubSubEmulator(base / "pubsub").start()
        try:
            common = Settings(
                project="vbq-bench",
                redis_url=redis_server.url,
                pubsub_emulator_host=emulator.host,
                shutdown_grace_s=5.0,
            )
            vbq_rate = bench_vbq(
                common.replace(
                    events_topic="bench-vbq",
                    events_subscription="bench-vbq-sub",
                    dead_letter_topic="bench-dead",
                ),
                events,
                args.timeout_s,
            )
            bare_rate = bench_bare(
                common.replace(
                    events_topic="bench-bare",
                    events_subscription="bench-bare-sub",
                    dead_letter_topic="bench-dead",
                ),
                events,
                args.timeout_s,
            )
        finally:
            emulator.stop()
            redis_server.stop()
    if args.header:
        print("| events | vbq relay+subscriber (events/s) | bare pubsub (events/s) | ratio |")
        print("|---:|---:|---:|---:|")
    print(f"| {len(events)} | {vbq_rate:.0f} | {bare_rate:.0f} | {vbq_rate / bare_rate:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
