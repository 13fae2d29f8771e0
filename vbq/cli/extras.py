"""Commands whose code ships in an extra (``[emulators]``, ``[demo]``), not in the core.

The production install has neither: ``vbq emulator …`` and ``vbq demo`` then say which extra
to install and exit 2, instead of failing with an import error.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

import click

__all__ = ["EXTRAS", "MissingExtraError", "extra_hint", "import_extra"]

EXTRAS: dict[str, str] = {"vbq_emulators": "emulators", "vbq_demo": "demo"}
"""Top-level package of each extra → the extra's name."""

DISTRIBUTION = "vertex-batch-queue"


class MissingExtraError(click.ClickException):
    """An extra's package is not installed (exit code 2)."""

    exit_code = 2


def extra_hint(package: str, command: str) -> str:
    """The message that names the extra to install for ``command``."""
    extra = EXTRAS[package]
    return (
        f"`{command}` needs the {extra} extra, which is not installed: "
        f"pip install '{DISTRIBUTION}[{extra}]' (from a checkout: pip install '.[{extra}]')"
    )


def installed(package: str) -> bool:
    """True when the extra's top-level package can be imported."""
    return importlib.util.find_spec(package) is not None


def import_extra(module: str, *, command: str) -> ModuleType:
    """Import ``module`` from an extra, or raise :class:`MissingExtraError` naming the extra.

    Raises:
        MissingExtraError: the extra's top-level package is not installed.
    """
    package = module.split(".", maxsplit=1)[0]
    if not installed(package):
        raise MissingExtraError(extra_hint(package, command))
    return importlib.import_module(module)
