"""Faults (Jepsen's "nemesis") injected into a running :class:`ChaosCluster`.

Each fault kind runs in its own thread, at random moments drawn from a seeded RNG, until the
fault window closes; "all together" simply starts every kind's thread at once, so faults
overlap (a worker dies while Redis restarts during a Pub/Sub outage...). Every injection is
logged with its time in ``Nemesis.log`` for the report.

Kinds:

- ``kill_worker``, ``kill_beat``, ``kill_subscriber``: SIGKILL one process (group) of that
  role, restart it 0.5-3 s later.
- ``redis_restart``: SIGKILL ``redis-server`` and start it again on the same AOF (down 0.5-2 s).
- ``pubsub_down``: SIGKILL the Pub/Sub emulator for ``pubsub_down_s`` seconds, then restart it
  on its journal.
- ``vertex_429``: a storm of 429s on every Vertex call for 3-8 s.
- ``vertex_503``: 30 % of Vertex calls answer 503 for 5-10 s.
- ``vertex_latency``: 1 s + up to 3 s of latency per call (over the 3 s client timeout, so some
  creates time out *after* the emulator created the job) for 5-10 s.
- ``vertex_create_drop``: 30 % of creates are applied, then the connection is dropped, 5-10 s.
- ``clock_jump``: the skewed worker's wall clock jumps +120 s, later -60 s (needs a cluster with
  ``skewed_worker=True``).
- ``two_beats``: a static fault: the cluster runs two ``vbq beat`` processes (and so two relays)
  the whole time; nothing to do at run time.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.chaos.cluster import ChaosCluster

__all__ = ["ALL_FAULTS", "Nemesis"]

ALL_FAULTS: tuple[str, ...] = (
    "kill_worker",
    "kill_beat",
    "kill_subscriber",
    "redis_restart",
    "pubsub_down",
    "vertex_429",
    "vertex_503",
    "vertex_latency",
    "vertex_create_drop",
    "clock_jump",
    "two_beats",
)


@dataclass
class Nemesis:
    """Runs the chosen fault kinds against ``cluster`` between :meth:`start` and :meth:`stop`.

    Args:
        cluster: the running cluster.
        kinds: fault kinds from :data:`ALL_FAULTS`.
        seed: RNG seed (each kind derives its own stream from it).
        pubsub_down_s: length of one Pub/Sub outage in seconds.
        gap_s: (min, max) seconds between two injections of the same kind.
    """

    cluster: ChaosCluster
    kinds: tuple[str, ...]
    seed: int = 1
    pubsub_down_s: float = 10.0
    gap_s: tuple[float, float] = (3.0, 10.0)
    log: list[tuple[float, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _t0: float = 0.0

    def start(self) -> Nemesis:
        self._t0 = time.monotonic()
        for i, kind in enumerate(self.kinds):
            action = self._actions().get(kind)
            if action is None:
                continue  # static faults (two_beats) are part of the cluster's shape
            rng = random.Random(self.seed * 1000 + i)
            thread = threading.Thread(
                target=self._loop, args=(kind, action, rng), name=f"nemesis-{kind}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Close the window, wait for running injections to end, and heal everything."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)
        self.cluster.set_clock_offset(0.0)
        if self.cluster.vertex is not None:
            self.cluster.vertex.configure(
                storm_429_s=0, error_503_rate=0.0, latency_s=0.0, latency_jitter_s=0.0,
                create_then_drop_rate=0.0,
            )  # fmt: skip
        healed = self.cluster.ensure_all_alive()
        if healed:
            self._note(f"healed at stop: {healed}")

    def counts(self) -> dict[str, int]:
        """Injections per kind."""
        out: dict[str, int] = {}
        for _, what in self.log:
            kind = what.split(" ", 1)[0]
            out[kind] = out.get(kind, 0) + 1
        return out

    # -- loop ---------------------------------------------------------------------------------

    def _note(self, what: str) -> None:
        self.log.append((round(time.monotonic() - self._t0, 2), what))

    def _sleep(self, seconds: float) -> bool:
        """Sleep; False when the window closed meanwhile."""
        return not self._stop.wait(seconds)

    def _loop(self, kind: str, action: Callable[[random.Random], None], rng: random.Random) -> None:
        # A first injection soon after start, then at random gaps.
        if not self._sleep(rng.uniform(0.5, self.gap_s[0])):
            return
        while not self._stop.is_set():
            try:
                action(rng)
            except Exception as exc:  # a fault that cannot be injected is a test-harness bug
                self.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            if not self._sleep(rng.uniform(*self.gap_s)):
                return

    def _actions(self) -> dict[str, Callable[[random.Random], None]]:
        return {
            "kill_worker": lambda rng: self._kill_role("worker", rng),
            "kill_beat": lambda rng: self._kill_role("beat", rng),
            "kill_subscriber": lambda rng: self._kill_role("subscriber", rng),
            "redis_restart": self._redis_restart,
            "pubsub_down": self._pubsub_down,
            "vertex_429": self._vertex_429,
            "vertex_503": lambda rng: self._vertex_window("vertex_503", rng, error_503_rate=0.3),
            "vertex_latency": lambda rng: self._vertex_window(
                "vertex_latency", rng, latency_s=1.0, latency_jitter_s=3.0
            ),
            "vertex_create_drop": lambda rng: self._vertex_window(
                "vertex_create_drop", rng, create_then_drop_rate=0.3
            ),
            "clock_jump": self._clock_jump,
        }

    # -- injections ---------------------------------------------------------------------------

    def _kill_role(self, prefix: str, rng: random.Random) -> None:
        name = rng.choice(self.cluster.names(prefix))
        self.cluster.kill(name)
        self._note(f"kill_{prefix} {name}")
        time.sleep(rng.uniform(0.5, 3.0))
        self.cluster.respawn(name)

    def _redis_restart(self, rng: random.Random) -> None:
        down_s = rng.uniform(0.5, 2.0)
        self._note(f"redis_restart down {down_s:.1f}s")
        self.cluster.redis.restart(down_s=down_s)

    def _pubsub_down(self, rng: random.Random) -> None:
        self._note(f"pubsub_down {self.pubsub_down_s:.0f}s")
        self.cluster.pubsub.kill()
        time.sleep(self.pubsub_down_s)  # not cut short: an outage has its full length
        self.cluster.pubsub.start()

    def _vertex_429(self, rng: random.Random) -> None:
        assert self.cluster.vertex is not None
        storm_s = rng.uniform(3.0, 8.0)
        self._note(f"vertex_429 storm {storm_s:.1f}s")
        self.cluster.vertex.configure(storm_429_s=storm_s, retry_after_s=1.0)
        # Set it back to 0 at once: the running storm keeps its end time, and later config
        # changes by other faults do not start a new one.
        self.cluster.vertex.configure(storm_429_s=0)

    def _vertex_window(self, kind: str, rng: random.Random, **faults: float) -> None:
        assert self.cluster.vertex is not None
        window_s = rng.uniform(5.0, 10.0)
        self._note(f"{kind} {window_s:.1f}s {faults}")
        self.cluster.vertex.configure(**faults)
        time.sleep(window_s)
        self.cluster.vertex.configure(**{k: 0.0 for k in faults})

    def _clock_jump(self, rng: random.Random) -> None:
        offset = rng.choice([120.0, -60.0, 300.0, -30.0])
        self._note(f"clock_jump {offset:+.0f}s")
        self.cluster.set_clock_offset(offset)
