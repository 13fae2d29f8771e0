"""``vbq demo``: run the whole pipeline on this machine with local emulators.

The demo is the ``[demo]`` extra (package :mod:`vbq_demo`); without it ``vbq demo`` prints the
extra to install and exits 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vbq.cli.extras import import_extra

__all__ = ["demo", "register"]


@click.command()
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Stage-1 jobs to submit.",
)
@click.option(
    "--seconds-per-job",
    type=click.FloatRange(min=0.05),
    default=3.0,
    show_default=True,
    help="Emulated job duration (queued + running), in seconds.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=8),
    default=2,
    show_default=True,
    help="vbq worker processes.",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".demo"),
    show_default=True,
    help="Logs, Redis data and the summary file.",
)
@click.option(
    "--keep-running",
    is_flag=True,
    help="Keep the stack up after the summary (until Ctrl-C) and print its env.",
)
@click.option(
    "--redis-url",
    envvar="VBQ_REDIS_URL",
    default="",
    help="A running Redis to use [env VBQ_REDIS_URL]; default: start a private one.",
)
@click.option(
    "--timeout-s",
    type=click.FloatRange(min=1),
    default=240.0,
    show_default=True,
    help="Stop waiting for the pipeline after this many seconds.",
)
@click.option(
    "--storm-s",
    type=click.FloatRange(min=0),
    default=3.0,
    show_default=True,
    help="Length of the 429 storm window on creates (0: none).",
)
def demo(  # noqa: PLR0917 - click passes options positionally
    jobs: int,
    seconds_per_job: float,
    workers: int,
    workdir: Path,
    keep_running: bool,
    redis_url: str,
    timeout_s: float,
    storm_s: float,
) -> None:
    """Run the whole pipeline locally: emulators, workers, beat, relay, subscriber.

    Exits 0 only if every job finished, every state change was published and handled exactly
    once, and each chained job was submitted exactly once. Ctrl-C stops everything.
    """
    run = import_extra("vbq_demo.run", command="vbq demo")
    code = run.run_demo(
        run.DemoOptions(
            jobs=jobs,
            seconds_per_job=seconds_per_job,
            workers=workers,
            workdir=workdir,
            keep_running=keep_running,
            redis_url=redis_url.strip(),
            timeout_s=timeout_s,
            storm_s=storm_s,
        )
    )
    sys.exit(code)


def register(group: click.Group) -> None:
    """Attach ``vbq demo`` to the root group."""
    group.add_command(demo)
