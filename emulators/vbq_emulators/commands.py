"""Click commands of ``vbq emulator``; each emulator adds its command in :func:`attach`."""

from __future__ import annotations

import click

__all__ = ["attach"]


def attach(group: click.Group) -> None:
    """Add every emulator's command to ``group``."""
    for module_name in _EMULATOR_COMMANDS:
        module = __import__(module_name, fromlist=["command"])
        group.add_command(module.command)


_EMULATOR_COMMANDS: tuple[str, ...] = (
    "vbq_emulators.vertex.cli",
    "vbq_emulators.gcs",
    "vbq_emulators.pubsub.cli",
)
