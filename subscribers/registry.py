"""Handler registry: which function runs for which event type.

``@handler("job.succeeded")`` registers a function in the process-wide :data:`REGISTRY`;
``@handler("job.succeeded", "job.failed")`` takes several types and ``@handler("*")`` (or
``@handler()``) every type. ``vbq subscribe --handler pkg.module:func`` imports the module (which
runs the decorators) and selects registrations from this registry.

A handler is ``def handle(event: JobEvent) -> None``: synchronous, run in the subscriber's
thread pool. Details of the delivery (message id, attempt) are available inside it through
:func:`vbq.subscribers.current_delivery`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from vbq.errors import ConfigError
from vbq.events import EVENT_TYPES, JobEvent

__all__ = [
    "ALL_TYPES",
    "REGISTRY",
    "Handler",
    "HandlerRegistry",
    "Registration",
    "handler",
    "handler_name",
]

ALL_TYPES = "*"
"""The wildcard type: the handler runs for every event type."""

Handler = Callable[[JobEvent], None]
_F = TypeVar("_F", bound=Callable[[JobEvent], None])


def handler_name(func: Callable[..., object]) -> str:
    """``module:qualname`` of ``func``: its identity in logs and in the inbox."""
    module = getattr(func, "__module__", None) or "?"
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func))
    return f"{module}:{qualname}"


@dataclass(frozen=True)
class Registration:
    """One handler and the event types it wants.

    Attributes:
        name: ``module:qualname``; unique within a registry.
        types: event types, or ``{"*"}`` for all.
        func: the handler.
    """

    name: str
    types: frozenset[str]
    func: Handler

    def matches(self, event_type: str) -> bool:
        """True when this handler runs for ``event_type``."""
        return ALL_TYPES in self.types or event_type in self.types


def _check_types(types: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(types) or frozenset({ALL_TYPES})
    unknown = sorted(t for t in chosen if t != ALL_TYPES and t not in EVENT_TYPES)
    if unknown:
        raise ConfigError(
            f"unknown event type(s) {', '.join(map(repr, unknown))}; "
            f"known: '*', {', '.join(sorted(EVENT_TYPES))}"
        )
    return chosen


class HandlerRegistry:
    """Registrations in the order they were added; thread-safe."""

    def __init__(self) -> None:
        self._by_name: dict[str, Registration] = {}
        self._lock = threading.Lock()
        # for_type answers per event type (every message asks); cleared by every change.
        self._by_type: dict[str, tuple[Registration, ...]] = {}

    def add(self, func: Handler, *types: str) -> Registration:
        """Register ``func`` for ``types`` (none = all). Re-adding a name replaces it.

        Raises:
            ConfigError: a type is not a known event type, or ``func`` is not callable.
        """
        if not callable(func):
            raise ConfigError(f"handler {func!r} is not callable")
        reg = Registration(name=handler_name(func), types=_check_types(types), func=func)
        with self._lock:
            self._by_name[reg.name] = reg
            self._by_type = {}
        return reg

    def include(self, reg: Registration) -> None:
        """Add an existing registration (from another registry)."""
        with self._lock:
            self._by_name[reg.name] = reg
            self._by_type = {}

    def handler(self, *types: str) -> Callable[[_F], _F]:
        """Decorator form of :meth:`add`; returns the function unchanged.

        Raises:
            ConfigError: a type is not a known event type.
        """
        checked = _check_types(types)

        def decorate(func: _F) -> _F:
            self.add(func, *checked)
            return func

        return decorate

    @property
    def registrations(self) -> tuple[Registration, ...]:
        """Every registration, oldest first."""
        with self._lock:
            return tuple(self._by_name.values())

    def for_type(self, event_type: str) -> list[Registration]:
        """The registrations that run for ``event_type``, in registration order."""
        cached = self._by_type.get(event_type)
        if cached is None:
            with self._lock:
                cached = tuple(r for r in self._by_name.values() if r.matches(event_type))
                self._by_type[event_type] = cached
        return list(cached)

    def find(self, func: Callable[..., object]) -> list[Registration]:
        """Registrations whose function is ``func``."""
        return [r for r in self.registrations if r.func is func]

    def from_module(self, module: str) -> list[Registration]:
        """Registrations of functions defined in ``module``."""
        return [r for r in self.registrations if r.name.split(":", 1)[0] == module]

    def __len__(self) -> int:
        return len(self._by_name)


REGISTRY = HandlerRegistry()
"""The process-wide registry that :func:`handler` adds to."""


def handler(*types: str) -> Callable[[_F], _F]:
    """Register the decorated function in :data:`REGISTRY` for ``types`` (none or ``"*"`` = all).

    Example::

        @handler("job.succeeded", "job.partially_succeeded")
        def load_outputs(event: JobEvent) -> None: ...

    Raises:
        ConfigError: a type is not a known event type (typos fail at import time).
    """
    return REGISTRY.handler(*types)
