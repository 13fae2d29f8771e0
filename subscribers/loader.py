"""Import handlers by path for ``vbq subscribe --handler``.

``pkg.module:func`` imports ``pkg.module`` (running its ``@handler`` decorators) and selects the
registrations of ``func``; a plain function that was never decorated is registered for every
type (``"*"``). ``pkg.module`` alone selects every handler decorated in that module.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from vbq.errors import ConfigError
from vbq.subscribers.registry import REGISTRY, HandlerRegistry

__all__ = ["load_handlers"]


def load_handlers(specs: Sequence[str], *, source: HandlerRegistry = REGISTRY) -> HandlerRegistry:
    """A new registry with the handlers named by ``specs``.

    Args:
        specs: ``pkg.module:func`` (``func`` may be dotted: ``Class.method``) or ``pkg.module``.
        source: the registry the decorators add to (default: the process-wide one).

    Raises:
        ConfigError: a module cannot be imported, an attribute is missing or not callable, a
            module has no handlers, or no spec was given.
    """
    if not specs:
        raise ConfigError("give at least one --handler pkg.module:func")
    chosen = HandlerRegistry()
    for spec in specs:
        module_name, _, attr = spec.strip().partition(":")
        if not module_name:
            raise ConfigError(f"--handler {spec!r}: expected pkg.module:func")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise ConfigError(f"--handler {spec!r}: cannot import {module_name}: {exc}") from exc
        if not attr:
            regs = source.from_module(module_name)
            if not regs:
                raise ConfigError(f"--handler {spec!r}: no @handler functions in {module_name}")
            for reg in regs:
                chosen.include(reg)
            continue
        obj: object = module
        for part in attr.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise ConfigError(f"--handler {spec!r}: {module_name} has no {attr}") from None
        if not callable(obj):
            raise ConfigError(f"--handler {spec!r}: {attr} is not callable")
        regs = source.find(obj)
        if regs:
            for reg in regs:
                chosen.include(reg)
        else:
            chosen.add(obj)
    return chosen
