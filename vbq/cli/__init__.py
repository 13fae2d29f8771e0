"""The ``vbq`` command line.

Each command lives in its own module under :mod:`vbq.cli` and exposes ``register(group)``;
:data:`COMMAND_MODULES` lists them. Run ``vbq --help`` for the list.
"""

from __future__ import annotations

import importlib

import click

from vbq.version import __version__

__all__ = ["COMMAND_MODULES", "cli", "main"]

COMMAND_MODULES: tuple[str, ...] = (
    "vbq.cli.emulator",
    "vbq.cli.worker",
    "vbq.cli.beat",
    "vbq.cli.jobs",
    "vbq.cli.requests",
    "vbq.cli.api",
    "vbq.cli.subscribe",
    "vbq.cli.relay",
    "vbq.cli.events",
    "vbq.cli.doctor",
    "vbq.cli.bridge",
    "vbq.cli.demo",
    "vbq.cli.console",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vbq")
def cli() -> None:
    """vertex-batch-queue: queue, rate-limit and track Vertex AI batch prediction jobs."""


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(cli)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="vbq")
