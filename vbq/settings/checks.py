"""Checks of settings as a whole, run once by ``Settings.from_env()``: packing limits,
``gs://`` prefixes, the tenant policy, the places and the log format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vbq.errors import ConfigError

if TYPE_CHECKING:
    from vbq.settings.settings import Settings

__all__ = ["GEMINI_MAX_INPUT_BYTES", "GEMINI_MAX_REQUESTS", "check_settings"]

# Google's per-job limits for Gemini batch input in Cloud Storage.
GEMINI_MAX_REQUESTS = 200_000
GEMINI_MAX_INPUT_BYTES = 1_000_000_000


def check_settings(settings: Settings) -> None:
    """Refuse settings that are well-formed one by one but wrong together.

    Raises:
        ConfigError: names the variable at fault.
    """
    _check_packing(settings)
    if settings.archive_prefix and not settings.archive_prefix.startswith("gs://"):
        raise ConfigError(
            f"VBQ_ARCHIVE_PREFIX must start with gs://, got {settings.archive_prefix!r}"
        )
    settings.tenant_policy()  # ConfigError now, not in a worker
    from vbq.places import places_of  # imports settings

    places_of(settings)
    if settings.log_format not in {"auto", "json", "console"}:
        raise ConfigError(
            f"VBQ_LOG_FORMAT must be json, console or auto, got {settings.log_format!r}"
        )


def _check_packing(settings: Settings) -> None:
    if settings.pack_prefix and not settings.pack_prefix.startswith("gs://"):
        raise ConfigError(f"VBQ_PACK_PREFIX must start with gs://, got {settings.pack_prefix!r}")
    if settings.pack_max_rows > GEMINI_MAX_REQUESTS:
        raise ConfigError(f"VBQ_PACK_MAX_ROWS must be <= {GEMINI_MAX_REQUESTS} (Google's limit)")
    if settings.pack_max_bytes > GEMINI_MAX_INPUT_BYTES:
        raise ConfigError(f"VBQ_PACK_MAX_BYTES must be <= {GEMINI_MAX_INPUT_BYTES} (1 GB)")
