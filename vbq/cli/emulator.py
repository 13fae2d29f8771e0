"""``vbq emulator {vertex,pubsub,gcs}``: local stand-ins for Google services.

The emulators are the ``[emulators]`` extra (package :mod:`vbq_emulators`); without it each
subcommand prints the extra to install and exits 2.
"""

from __future__ import annotations

import click

from vbq.cli.extras import MissingExtraError, extra_hint, import_extra, installed

__all__ = ["emulator", "register"]

_SERVICES = {"vertex": "Vertex AI", "pubsub": "Pub/Sub", "gcs": "Cloud Storage"}


@click.group()
def emulator() -> None:
    """Run a local emulator of a Google service (for tests and the demo)."""


def _missing(service: str) -> click.Command:
    @click.command(
        name=service,
        help=f"{_SERVICES[service]} emulator (needs the emulators extra).",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    def command() -> None:
        raise MissingExtraError(extra_hint("vbq_emulators", f"vbq emulator {service}"))

    return command


def register(group: click.Group) -> None:
    """Attach ``vbq emulator`` and its subcommands to the root group."""
    if installed("vbq_emulators"):
        import_extra("vbq_emulators.commands", command="vbq emulator").attach(emulator)
    else:
        for service in _SERVICES:
            emulator.add_command(_missing(service))
    group.add_command(emulator)
