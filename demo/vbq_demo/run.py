"""The demo's orchestrator: start the stack, submit, watch, judge, stop.

:func:`run_demo` is what ``vbq demo`` runs. Every process it starts is stopped on the way out:
normal end, an error, Ctrl-C (SIGINT) or SIGTERM (both become :class:`KeyboardInterrupt` here,
and a ``finally`` stops the stack).
"""

from __future__ import annotations

import secrets
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx
import redis
from rich.console import Console

from vbq.errors import ConfigError, VbqError
from vbq_demo.monitor import Monitor, Snapshot
from vbq_demo.progress import ProgressView
from vbq_demo.report import DemoReport, build_report
from vbq_demo.samples import job_requests, sample_files, upload_samples
from vbq_demo.stack import DEMO_BUCKET, DEMO_LOCATION, DEMO_PROJECT, DemoStack, StackOptions

__all__ = [
    "EXIT_ERROR",
    "EXIT_FAILED_CHECKS",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "DemoOptions",
    "DemoOutcome",
    "execute",
    "run_demo",
]

EXIT_OK = 0
EXIT_FAILED_CHECKS = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
_TICK_S = 0.5
_READ_FAILURE_GRACE_S = 30.0


@dataclass(frozen=True, kw_only=True)
class DemoOptions:
    """Options of one demo run.

    Attributes:
        jobs: stage-1 jobs to submit.
        seconds_per_job: emulated job duration (queued + running), in seconds.
        workers: ``vbq worker`` processes.
        workdir: logs, Redis data and the summary file.
        keep_running: after the summary, keep the stack up until Ctrl-C or SIGTERM.
        redis_url: a running Redis to use ("" = start a private one).
        timeout_s: give up waiting for the pipeline after this many seconds.
        storm_s: length of the 429 storm window on creates, in seconds (0 = none).
        chain_share: share of stage-1 jobs that get a chained stage 2.
    """

    jobs: int = 200
    seconds_per_job: float = 3.0
    workers: int = 2
    workdir: Path = Path(".demo")
    keep_running: bool = False
    redis_url: str = ""
    timeout_s: float = 240.0
    storm_s: float = 3.0
    chain_share: float = 0.25


class _Stop(KeyboardInterrupt):
    """SIGTERM, turned into the same unwinding as Ctrl-C."""


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    def on_term(signum: int, _frame: FrameType | None) -> None:
        raise _Stop(signal.Signals(signum).name)

    previous = {
        sig: signal.signal(sig, on_term if sig == signal.SIGTERM else signal.default_int_handler)
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def new_run_id() -> str:
    """A label-safe id of one run: ``YYYYmmdd-HHMMSS-xxxx``."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


@dataclass(frozen=True, kw_only=True)
class DemoOutcome:
    """How a run ended.

    Attributes:
        code: the exit code (see :func:`run_demo`).
        report: the judged run (None when it did not get that far).
        startup_s: seconds to bring the stack up.
        stop_codes: exit code of each process the demo stopped, by role name.
    """

    code: int
    report: DemoReport | None = None
    startup_s: float = 0.0
    stop_codes: dict[str, int | None] = field(default_factory=dict)


def run_demo(options: DemoOptions, *, console: Console | None = None) -> int:
    """Run the whole pipeline on this machine and judge it.

    Args:
        options: see :class:`DemoOptions`.
        console: where the progress and the summary go (default: stdout).

    Returns:
        0 when every check passed, 1 when one failed, 2 when the stack could not run,
        130 when interrupted (Ctrl-C or SIGTERM) before the summary. With ``keep_running``,
        Ctrl-C or SIGTERM after the summary ends the run with the summary's code.
    """
    return execute(options, console=console).code


def execute(options: DemoOptions, *, console: Console | None = None) -> DemoOutcome:
    """:func:`run_demo`, returning the report and timings too (benchmarks use this)."""
    # Off a terminal (a log, CI) rich would wrap at 80 columns; keep summary lines whole.
    out = console or (Console() if sys.stdout.isatty() else Console(width=160))
    run_id = new_run_id()
    workdir = options.workdir.resolve()
    stack = DemoStack(
        options=StackOptions(
            workdir=workdir,
            workers=options.workers,
            seconds_per_job=options.seconds_per_job,
            redis_url=options.redis_url,
        )
    )
    code, report, startup_s = EXIT_ERROR, None, 0.0
    with _signals_interrupt():
        try:
            out.print(f"[bold]vbq demo[/]: starting the stack (logs in {stack.log_dir})")
            t0 = time.monotonic()
            stack.start()
            startup_s = time.monotonic() - t0
            out.print(
                f"stack up in {startup_s:.1f}s: redis, vertex/pubsub/gcs "
                f"emulators, {options.workers} worker(s), beat + relay, subscriber, api"
            )
            _print_console(stack, out)
            report = _run(options, stack, run_id, out)
            report.render(out)
            code = EXIT_OK if report.ok else EXIT_FAILED_CHECKS
            if options.keep_running:
                try:
                    _hold(stack, out)
                except KeyboardInterrupt:
                    # The asked-for way to end --keep-running: the run's verdict stands.
                    out.print("\nstopping the stack")
        except KeyboardInterrupt as exc:
            why = "SIGTERM" if isinstance(exc, _Stop) else "Ctrl-C"
            out.print(f"\n[yellow]{why}: stopping every process the demo started[/]")
            code = EXIT_INTERRUPTED
        except (VbqError, redis.RedisError, httpx.HTTPError) as exc:
            out.print(f"[red]demo failed:[/] {exc}", highlight=False)
            code = EXIT_ERROR
        except Exception as exc:
            # Anything else (a storage emulator refusing the upload, a full disk) still ends
            # with every process stopped and a one-line reason; details are in the logs.
            out.print(f"[red]demo failed:[/] {type(exc).__name__}: {exc}", highlight=False)
            code = EXIT_ERROR
        finally:
            # A second Ctrl-C must not cut the clean-up short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            stop_codes = stack.stop()
            if stop_codes:
                out.print(f"stopped {len(stop_codes)} processes", highlight=False)
    return DemoOutcome(code=code, report=report, startup_s=startup_s, stop_codes=stop_codes)


def _run(options: DemoOptions, stack: DemoStack, run_id: str, out: Console) -> DemoReport:
    from vbq.producers import Client
    from vbq.store import JobStore

    settings = stack.settings()
    uris = upload_samples(storage_host=stack.storage_host, bucket=DEMO_BUCKET, files=sample_files())
    out.print(f"uploaded {len(uris)} input files to gs://{DEMO_BUCKET}/inputs/")
    requests = job_requests(
        count=options.jobs,
        project=DEMO_PROJECT,
        location=DEMO_LOCATION,
        bucket=DEMO_BUCKET,
        run_id=run_id,
        chain_share=options.chain_share,
    )
    r = redis.Redis.from_url(settings.redis_url)
    store = JobStore.from_settings(settings)
    monitor = Monitor(
        store=store,
        redis_client=r,
        run_id=run_id,
        expected_stage1=len(requests),
        vertex_url=stack.vertex_url,
        pubsub_admin_url=stack.pubsub_admin_url,
    )
    client = Client.from_settings(settings)
    deadline = time.monotonic() + options.timeout_s
    try:
        with ProgressView(console=out, run_id=run_id) as view:
            # A quarter goes first; once Vertex has created those, a 429 storm opens on
            # creates and the rest arrive into it: the workers must wait it out, not fail.
            first = max(1, len(requests) // 4)
            client.submit_many(requests[:first])
            snap = _watch(monitor, view, stack, deadline, lambda s: s.vertex_jobs_created >= first)
            if options.storm_s > 0:
                httpx.post(
                    f"{stack.vertex_url}/_emulator/config",
                    json={"storm_429_s": options.storm_s},
                    timeout=5.0,
                ).raise_for_status()
            client.submit_many(requests[first:])
            snap = _watch(monitor, view, stack, deadline, lambda s: s.done)
        report = build_report(
            run_id=run_id,
            snapshot=snap,
            vertex_jobs=monitor.vertex_jobs(),
            summary_path=stack.summary_path,
            output_prefix=f"gs://{DEMO_BUCKET}/outputs",
        )
    finally:
        client.close()
        monitor.close()
        store.close()
        r.close()
    return report


def _watch(
    monitor: Monitor,
    view: ProgressView,
    stack: DemoStack,
    deadline: float,
    until: Callable[[Snapshot], bool],
) -> Snapshot:
    snap: Snapshot | None = None
    failing_since: float | None = None
    while True:
        try:
            snap = monitor.snapshot()
            failing_since = None
        except (redis.RedisError, httpx.HTTPError) as exc:
            # A stats call timing out on a loaded machine is no reason to abandon the run;
            # a service that stays silent is.
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since > _READ_FAILURE_GRACE_S:
                raise ConfigError(f"the stack stopped answering: {exc}") from exc
        if snap is not None:
            view.update(snap)
            if until(snap):
                return snap
        dead = stack.dead_roles()
        if dead:
            tails = "\n".join(f"--- {c.name}\n{c.log_tail(20)}" for c in dead)
            raise ConfigError(f"{', '.join(c.name for c in dead)} exited unexpectedly:\n{tails}")
        if time.monotonic() > deadline and snap is not None:
            return snap  # the report shows what did not finish
        time.sleep(_TICK_S)


def _hold(stack: DemoStack, out: Console) -> None:
    out.print("\n[bold]--keep-running[/]: the stack stays up. Talk to it with:")
    for key, value in stack.env().items():
        if key.startswith(("VBQ_", "PUBSUB_", "STORAGE_")) and not key.startswith("VBQ_DEMO_"):
            out.print(f"export {key}={value}", highlight=False, soft_wrap=True)
    _print_console(stack, out)
    out.print(f"Pub/Sub stats: {stack.pubsub_admin_url}/_emulator/stats", highlight=False)
    out.print(f"Vertex stats:  {stack.vertex_url}/_emulator/stats", highlight=False)
    out.print("Press Ctrl-C (or send SIGTERM) to stop everything.")
    while True:
        dead = stack.dead_roles()
        if dead:
            out.print(f"[red]{', '.join(c.name for c in dead)} exited; stopping[/]")
            return
        time.sleep(1.0)


def _print_console(stack: DemoStack, out: Console) -> None:
    """Where the web console is and the keys to sign in with (fresh for this run)."""
    if not stack.options.api:
        return
    out.print(f"console: {stack.console_url}  (admin key {stack.admin_key})", highlight=False)
    keys = ", ".join(f"{tenant} {key}" for tenant, key in stack.tenant_keys.items())
    out.print(f"  tenant keys: {keys}", highlight=False, soft_wrap=True)
