"""One chaos run: start the cluster, submit while the nemesis injects faults, drain, check.

:func:`run_chaos` returns the checker's :class:`~tests.chaos.checker.Report` and the printed
text (counts table, fault log, restarts); the tests assert ``report.ok``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from tests.chaos.checker import History, Report, check, format_table
from tests.chaos.cluster import INPUT_BUCKET, OUTPUT_PREFIX, ChaosCluster, ClusterShape
from tests.chaos.faults import Nemesis
from tests.chaos.recorder import OUTBOX, AuditPuller, OutboxTap, read_handler_runs
from tests.chaos.request_checker import LOST, check_requests
from tests.chaos.requests_side import RequestSubmitter, request_history
from vbq.producers import Client
from vbq.store import JobStore

__all__ = ["ChaosPlan", "run_chaos"]

# Violations that can still resolve while the pipeline drains; the others are final.
_PROGRESS = (
    "lost (accepted, not finished)",
    "state change never published",
    "state change never handled",
    LOST,
)


@dataclass
class ChaosPlan:
    """What one run does.

    Attributes:
        submissions: how many requests the client submits (spread over ``fault_window_s``).
        faults: fault kinds (see :mod:`tests.chaos.faults`); ``two_beats`` and ``clock_jump``
            also shape the cluster.
        fault_window_s: how long faults are injected, in seconds.
        pubsub_down_s: length of each Pub/Sub outage, in seconds.
        drain_timeout_s: how long the healed cluster gets to finish everything, in seconds.
        seed: RNG seed of the nemesis.
        requests: how many single requests a second client adds (packed into jobs).
    """

    submissions: int
    faults: tuple[str, ...]
    fault_window_s: float = 30.0
    pubsub_down_s: float = 10.0
    drain_timeout_s: float = 240.0
    seed: int = 1
    gap_s: tuple[float, float] = (3.0, 10.0)
    title: str = "chaos"
    extra: dict[str, Any] = field(default_factory=dict)
    requests: int = 0


def sdk_kwargs(i: int) -> dict[str, Any]:
    """A valid request (the SDK's keyword arguments) for submission number ``i``."""
    return {
        "job_display_name": f"chaos-{i}",
        "model_name": "publishers/google/models/gemini-2.0-flash-001",
        "gcs_source": f"gs://{INPUT_BUCKET}/in.jsonl",
        "gcs_destination_prefix": OUTPUT_PREFIX,
        "labels": {"run": "chaos", "n": str(i)},
    }


_TENANTS = ("t1", "t2")
_PRIORITIES = ("interactive", "default", "bulk")


class _Submitter:
    """Submits ``n`` requests: the first ``flood`` at once through ``submit_many`` (a flooding
    tenant, ``bulk``), the rest spread over ``window_s`` across two more tenants with a mix of
    priorities. Retries each call with its idempotency keys until the client returns ids (a
    Redis restart makes some calls fail)."""

    def __init__(self, client: Client, n: int, window_s: float, *, flood: int = 0) -> None:
        self.client = client
        self.n = n
        self.flood = min(flood, n)
        self.window_s = window_s
        self.accepted: dict[int, str] = {}
        self.errors = 0
        self.idempotent_replays = 0
        self.thread = threading.Thread(target=self._run, name="chaos-submitter", daemon=True)

    def _run(self) -> None:
        self._flood()
        t0 = time.monotonic()
        spread = self.n - self.flood
        for k, i in enumerate(range(self.flood, self.n)):
            due = t0 + self.window_s * k / max(1, spread)
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            failed_before = False
            while True:
                try:
                    sub = self.client.submit(
                        **sdk_kwargs(i),
                        idempotency_key=f"chaos-{i}",
                        tenant=_TENANTS[i % len(_TENANTS)],
                        priority=_PRIORITIES[i % len(_PRIORITIES)],
                    )
                    self.accepted[i] = sub.submission_id
                    if failed_before:
                        self.idempotent_replays += 1
                    break
                except Exception:
                    self.errors += 1
                    failed_before = True
                    time.sleep(0.2)

    def _flood(self) -> None:
        if not self.flood:
            return
        items = [{**sdk_kwargs(i), "idempotency_key": f"chaos-{i}"} for i in range(self.flood)]
        while True:
            try:
                result = self.client.submit_many(items, tenant="flood", priority="bulk")
            except Exception:
                self.errors += 1  # replayed whole: the idempotency keys make that harmless
                time.sleep(0.2)
                continue
            for item in result.accepted:
                self.accepted[item.index] = item.submission_id
            return


def _history(
    cluster: ChaosCluster,
    store: JobStore,
    ids: set[str],
    tap: OutboxTap,
    audit: AuditPuller,
    requests: set[str],
) -> Report:
    """Check everything recorded so far: submissions (the client's and the packs'), requests."""
    tapped = tap.seen.copy()
    req_history = request_history(cluster.settings(), requests, tapped) if requests else None
    packs = set(req_history.pack_submissions.values()) if req_history else set()
    records = store.get_many(sorted(ids | packs))
    report = check(
        History(
            accepted=ids | packs,
            final_states={r.id: r.state.value for r in records},
            vertex_jobs=cluster.vertex_jobs(),
            tapped=tapped,
            published=audit.snapshot(),
            handler_runs=read_handler_runs(cluster.record_dir),
            other_owners=set(requests),
        )
    )
    if req_history is not None:
        check_requests(req_history, report)
    return report


def run_chaos(root: Path, plan: ChaosPlan) -> tuple[Report, str]:
    """Run ``plan`` in ``root`` (logs, journals, records); see the module docstring."""
    shape = ClusterShape(
        beats=2 if "two_beats" in plan.faults else 1,
        skewed_worker="clock_jump" in plan.faults,
    )
    cluster = ChaosCluster(root, shape)
    t_start = time.monotonic()
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    t_ready = time.monotonic()
    settings = cluster.settings()
    tap = OutboxTap(settings.redis_url).start()
    audit = AuditPuller(settings, cluster.audit_subscription_path()).start()
    client = Client.from_settings(settings)
    store = JobStore.from_settings(settings)
    nemesis = Nemesis(
        cluster, plan.faults, seed=plan.seed, pubsub_down_s=plan.pubsub_down_s, gap_s=plan.gap_s
    )
    submitter = _Submitter(
        client,
        plan.submissions,
        plan.fault_window_s * 0.8,
        flood=int(plan.extra.get("flood", plan.submissions // 3)),
    )
    adder = RequestSubmitter(
        Client.from_settings(settings), plan.requests, plan.fault_window_s * 0.8
    )
    try:
        nemesis.start()
        submitter.thread.start()
        if plan.requests:
            adder.thread.start()
        time.sleep(plan.fault_window_s)
        nemesis.stop()
        t_healed = time.monotonic()
        submitter.thread.join(timeout=plan.drain_timeout_s)
        if plan.requests:
            adder.thread.join(timeout=plan.drain_timeout_s)
        ids = set(submitter.accepted.values())
        deadline = time.monotonic() + plan.drain_timeout_s
        while True:
            cluster.ensure_all_alive()  # a role that crashed on its own would show in the logs
            report = _history(cluster, store, ids, tap, audit, adder.accepted)
            pending = [v for v in _PROGRESS if v in report.violations]
            if not pending and _outbox_len(settings.redis_url) == 0:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(2.0)
        time.sleep(3.0)  # late redeliveries and duplicate publishes show up now, if any
        tap.stop()
        audit.stop()
        report = _history(cluster, store, ids, tap, audit, adder.accepted)
        report.counts["submit calls that raised (retried)"] = submitter.errors
        report.counts["submissions not accepted"] = plan.submissions - len(ids)
        if plan.submissions - len(ids):
            report.violations["submissions not accepted"] = [str(plan.submissions - len(ids))]
        report.counts["add_requests calls that raised (retried)"] = adder.errors
        if plan.requests - len(adder.accepted):
            report.violations["requests not accepted"] = [str(plan.requests - len(adder.accepted))]
        if nemesis.errors:
            report.violations["fault injection errors"] = nemesis.errors
        times = (t_start, t_ready, t_healed, time.monotonic())
        text = _render(plan, report, cluster, nemesis, tap, audit, times)
        if not report.ok:
            text += "\n" + _pubsub_diagnostics(cluster)
        (root / "chaos-report.txt").write_text(text)
        return report, text
    finally:
        nemesis._stop.set()
        tap.stop()
        audit.stop()
        client.close()
        adder.client.close()
        cluster.stop()


def _pubsub_diagnostics(cluster: ChaosCluster) -> str:
    """The Pub/Sub emulator's view of the events subscription (why something was not handled)."""
    try:
        stats = cluster.pubsub.stats()
    except Exception as exc:
        return f"pubsub stats unavailable: {exc}"
    subs = stats.get("subscriptions", {})
    path = cluster.settings().events_subscription_path()
    sub = dict(subs.get(path, {}))
    streams = sub.pop("streams", [])
    sub.pop("closed_streams", None)
    lines = [f"pubsub {path}: {sub}", f"dead_lettered={stats.get('dead_lettered')}"]
    lines += [f"  open stream: {s}" for s in streams]
    try:
        leases = [x for x in cluster.pubsub.leases() if x["subscription"] == path]
    except Exception as exc:
        leases = []
        lines.append(f"pubsub leases unavailable: {exc}")
    lines += [f"  lease: {x}" for x in leases[:50]]
    lines.append(f"subscriber diagnostics: {cluster.diag_dir}, logs: {cluster.logs}")
    return "\n".join(lines)


def _outbox_len(redis_url: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.xlen(OUTBOX))
    finally:
        client.close()


def _render(
    plan: ChaosPlan,
    report: Report,
    cluster: ChaosCluster,
    nemesis: Nemesis,
    tap: OutboxTap,
    audit: AuditPuller,
    times: tuple[float, float, float, float],
) -> str:
    t_start, t_ready, t_healed, t_drained = times
    lines = [
        format_table(report, title=f"chaos report: {plan.title}"),
        "",
        f"faults: {', '.join(plan.faults) or 'none'}; injections: {nemesis.counts()}",
        f"restarts: { {k: v for k, v in cluster.restarts.items() if v} }",
        f"recorder errors (reconnects): tap={tap.errors} audit={audit.errors}",
        (
            f"timing: start {t_ready - t_start:.0f}s, fault window {plan.fault_window_s:.0f}s, "
            f"drain {t_drained - t_healed:.0f}s, total {t_drained - t_start:.0f}s"
        ),
        "fault log (t s, what):",
        *(f"  {t:7.2f}  {what}" for t, what in nemesis.log[:200]),
    ]
    crashed = cluster.crashed_logs()
    if crashed:
        lines.append(f"roles with a traceback in their log: {sorted(crashed)}")
    return "\n".join(lines)
