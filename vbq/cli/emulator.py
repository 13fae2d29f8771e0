"""``vbq emulator {vertex,pubsub,gcs}``: local stand-ins for Google services."""

from __future__ import annotations

import click

__all__ = ["emulator", "register"]


@click.group()
def emulator() -> None:
    """Run a local emulator of a Google service (for tests and the demo)."""


def register(group: click.Group) -> None:
    """Attach ``vbq emulator`` and its subcommands to the root group."""
    # Subcommand modules import lazily so that `vbq --help` stays fast.
    from vbq.emulators import commands

    commands.attach(emulator)
    group.add_command(emulator)
