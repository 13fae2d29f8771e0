"""Reading single ``VBQ_*`` variables: typed, with a default and a lower bound.

Every reader returns the default for a missing or blank variable and raises
:class:`~vbq.errors.ConfigError` naming the variable when it is present but malformed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from vbq.errors import ConfigError

__all__ = ["env_bool", "env_float", "env_int", "env_list", "env_share"]


def env_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    """An integer >= ``minimum``.

    Raises:
        ConfigError: not an integer, or below ``minimum``.
    """
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def env_float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    """A finite number >= ``minimum``.

    Raises:
        ConfigError: not a finite number, or below ``minimum``.
    """
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {raw!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def env_share(env: Mapping[str, str], name: str, default: float) -> float:
    """A share in (0, 1].

    Raises:
        ConfigError: not a number, or outside (0, 1].
    """
    value = env_float(env, name, default, minimum=1e-6)
    if value > 1.0:
        raise ConfigError(f"{name} must be <= 1, got {value}")
    return value


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case).

    Raises:
        ConfigError: anything else.
    """
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def env_list(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list, items stripped, empty items left out (blank: empty list)."""
    raw = env.get(name)
    if raw is None:
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())
