"""Per-tenant weights and caps (``VBQ_TENANT_*``): a pure value built once from settings."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vbq.errors import ConfigError

__all__ = ["TenantLimits", "TenantPolicy"]

_KEYS = ("weight", "max_queued", "max_in_flight")


@dataclass(frozen=True, kw_only=True)
class TenantLimits:
    """What one tenant may use.

    Attributes:
        weight: its share of creates relative to the other backlogged tenants (> 0).
        max_queued: most submissions ACCEPTED and not yet created; 0 = no cap.
        max_in_flight: most submissions being created or running at Vertex; 0 = no cap.
    """

    weight: float = 1.0
    max_queued: int = 0
    max_in_flight: int = 0


@dataclass(frozen=True, kw_only=True)
class TenantPolicy:
    """Defaults plus per-tenant overrides.

    Args:
        default: limits of a tenant without an override.
        overrides: tenant → its limits.
    """

    default: TenantLimits = field(default_factory=TenantLimits)
    overrides: Mapping[str, TenantLimits] = field(default_factory=dict)

    def limits(self, tenant: str) -> TenantLimits:
        """The limits of ``tenant``."""
        return self.overrides.get(tenant, self.default)

    @classmethod
    def from_settings(cls, settings: Any) -> TenantPolicy:
        """The policy of a :class:`vbq.settings.Settings` (its ``tenant_*`` values; the default
        weight is 1).

        Raises:
            ConfigError: ``VBQ_TENANT_OVERRIDES`` is malformed.
        """
        return cls.parse(
            weight=1.0,
            max_queued=settings.tenant_max_queued,
            max_in_flight=settings.tenant_max_in_flight,
            overrides=settings.tenant_overrides,
        )

    @classmethod
    def parse(
        cls, *, weight: float, max_queued: int, max_in_flight: int, overrides: str
    ) -> TenantPolicy:
        """Build the policy from the settings' values.

        Args:
            weight, max_queued, max_in_flight: the defaults (``VBQ_TENANT_MAX_QUEUED`` ...).
            overrides: JSON object ``{"tenant": {"weight": 3, "max_queued": 100,
                "max_in_flight": 5}}`` (``VBQ_TENANT_OVERRIDES``); missing keys take the defaults.

        Raises:
            ConfigError: malformed JSON, an unknown key, or a value out of range.
        """
        default = _limits(
            {"weight": weight, "max_queued": max_queued, "max_in_flight": max_in_flight}, "defaults"
        )
        if not overrides.strip():
            return cls(default=default)
        try:
            raw = json.loads(overrides)
        except ValueError as exc:
            raise ConfigError(f"VBQ_TENANT_OVERRIDES is not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError("VBQ_TENANT_OVERRIDES must be a JSON object of tenant → limits")
        out: dict[str, TenantLimits] = {}
        for tenant, values in raw.items():
            if not isinstance(values, dict):
                raise ConfigError(f"VBQ_TENANT_OVERRIDES[{tenant!r}] must be an object")
            merged = {
                "weight": default.weight,
                "max_queued": default.max_queued,
                "max_in_flight": default.max_in_flight,
                **values,
            }
            out[str(tenant)] = _limits(merged, f"VBQ_TENANT_OVERRIDES[{tenant!r}]")
        return cls(default=default, overrides=out)


def _limits(values: Mapping[str, Any], where: str) -> TenantLimits:
    unknown = sorted(set(values) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown} (known: {list(_KEYS)})")
    try:
        weight = float(values["weight"])
        max_queued = int(values["max_queued"])
        max_in_flight = int(values["max_in_flight"])
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: weight must be a number, caps integers") from None
    if not weight > 0 or max_queued < 0 or max_in_flight < 0:
        raise ConfigError(f"{where}: weight must be > 0 and caps >= 0 (0 = no cap)")
    return TenantLimits(weight=weight, max_queued=max_queued, max_in_flight=max_in_flight)
