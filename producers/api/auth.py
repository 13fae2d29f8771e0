"""API keys for ``vbq api``: generation, hashing, and constant-time lookup.

Keys are random tokens (``vbq_`` + 32 base62 characters, about 190 bits of entropy). Because
they are high-entropy and machine-generated, a plain SHA-256 is enough to store them: a salt and
a slow hash (scrypt, PBKDF2) defend low-entropy passwords against dictionary attacks, which
cannot reach a 190-bit random key. Only the hashes are kept on disk, in a YAML or JSON file
(``VBQ_API_KEYS_FILE``) mapping ``hash -> tenant``::

    # vbq API keys: sha256 hex of the key -> tenant
    3f1c...e9: team-a
    a07b...44: team-b
    "5d2e...01": "*"      # an admin key: every tenant (vbq api-key create --admin)

A presented key is hashed and compared with :func:`hmac.compare_digest` against *every* entry,
without an early exit, so response time does not reveal how many entries matched or where.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import yaml

from vbq.errors import ConfigError
from vbq.logs import get_logger
from vbq.producers.tenancy import ADMIN_TENANT, TENANT_PATTERN

__all__ = [
    "ADMIN_TENANT",
    "API_KEY_PREFIX",
    "TENANT_PATTERN",
    "ApiKeyRing",
    "KeyLookup",
    "ReloadingKeyRing",
    "generate_api_key",
    "hash_api_key",
    "key_file_line",
]

_log = get_logger(__name__)

API_KEY_PREFIX = "vbq_"
_KEY_BODY_LENGTH = 32
_BASE62 = string.ascii_letters + string.digits
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")


def generate_api_key() -> str:
    """A new random API key: ``vbq_`` followed by 32 base62 characters (``secrets``)."""
    return API_KEY_PREFIX + "".join(secrets.choice(_BASE62) for _ in range(_KEY_BODY_LENGTH))


def hash_api_key(key: str) -> str:
    """The stored form of ``key``: lowercase SHA-256 hex of its UTF-8 bytes (64 characters)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyLookup(Protocol):
    """Anything that maps a presented API key to its tenant (None: refuse)."""

    def tenant_for(self, key: str | None) -> str | None: ...

    def __len__(self) -> int: ...


@dataclass(frozen=True)
class ApiKeyRing:
    """The hashed API keys the HTTP API accepts, each bound to one tenant.

    Build it with :meth:`from_file` or :meth:`from_mapping`; ask :meth:`tenant_for`.
    """

    entries: tuple[tuple[str, str], ...]
    """``(sha256 hex, tenant)`` pairs."""

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> ApiKeyRing:
        """Build from ``{hash: tenant}``.

        Raises:
            ConfigError: a hash is not 64 lowercase hex characters or a tenant is malformed.
        """
        entries: list[tuple[str, str]] = []
        for raw_hash, tenant in mapping.items():
            digest = str(raw_hash).strip().lower().removeprefix("sha256:")
            if not _HASH_RE.fullmatch(digest):
                raise ConfigError(f"API key file: {raw_hash!r} is not a sha256 hex digest")
            if not isinstance(tenant, str) or not (
                tenant == ADMIN_TENANT or TENANT_PATTERN.fullmatch(tenant)
            ):
                raise ConfigError(
                    f"API key file: tenant {tenant!r} must match {TENANT_PATTERN.pattern}"
                    f" (or be {ADMIN_TENANT!r} for an admin key)"
                )
            entries.append((digest, tenant))
        return cls(entries=tuple(entries))

    @classmethod
    def from_file(cls, path: str | Path) -> ApiKeyRing:
        """Load a YAML or JSON file mapping ``hash -> tenant`` (a top-level ``keys:`` mapping
        is accepted too).

        Raises:
            ConfigError: the file is missing, unreadable, not a mapping, or has a bad entry.
        """
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read API key file {file}: {exc.strerror}") from None
        try:
            data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"API key file {file} is not valid YAML/JSON: {exc}") from None
        if data is None:
            data = {}
        if isinstance(data, dict) and isinstance(data.get("keys"), dict):
            data = data["keys"]
        if not isinstance(data, dict):
            raise ConfigError(f"API key file {file} must be a mapping of hash -> tenant")
        return cls.from_mapping(data)

    def tenant_for(self, key: str | None) -> str | None:
        """The tenant bound to ``key``, or None when the key is unknown or empty.

        Every entry is compared (no early exit) in constant time per entry.
        """
        if not key:
            return None
        presented = hash_api_key(key).encode("ascii")
        found: str | None = None
        for digest, tenant in self.entries:
            # Keep looping after a match: the work done must not depend on the position.
            if hmac.compare_digest(presented, digest.encode("ascii")):
                found = tenant
        return found

    def __len__(self) -> int:
        return len(self.entries)


class ReloadingKeyRing:
    """An :class:`ApiKeyRing` read from a file and re-read when the file changes, so keys can
    be added or revoked without restarting ``vbq api``.

    The file's mtime and size are checked at most every ``check_interval_s`` seconds. A file
    that became unreadable or invalid keeps the last good keys (and logs why), so a half-written
    edit never locks everyone out nor lets anyone in.

    Args:
        path: the keys file.
        check_interval_s: seconds between checks of the file.

    Raises:
        ConfigError: the file cannot be loaded the first time.
    """

    def __init__(self, path: str | Path, *, check_interval_s: float = 1.0) -> None:
        self.path = Path(path)
        self.check_interval_s = check_interval_s
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._ring = ApiKeyRing.from_file(self.path)
        self._checked_at = time.monotonic()

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < self.check_interval_s:
            return
        with self._lock:
            if now - self._checked_at < self.check_interval_s:
                return
            self._checked_at = now
            stamp = self._file_stamp()
            if stamp == self._stamp:
                return
            try:
                ring = ApiKeyRing.from_file(self.path)
            except ConfigError as exc:
                _log.warning("api_keys.reload_failed", path=str(self.path), error=str(exc))
                return
            self._ring, self._stamp = ring, stamp
            _log.info("api_keys.reloaded", path=str(self.path), keys=len(ring))

    def tenant_for(self, key: str | None) -> str | None:
        """The tenant bound to ``key`` in the current file, or None (see
        :meth:`ApiKeyRing.tenant_for`)."""
        self._maybe_reload()
        return self._ring.tenant_for(key)

    def __len__(self) -> int:
        return len(self._ring)


def key_file_line(key: str, tenant: str) -> str:
    """The YAML line to append to the keys file for ``key`` (``"<hash>": tenant``; the admin
    tenant quoted, as a bare ``*`` is YAML alias syntax)."""
    value = f'"{tenant}"' if tenant == ADMIN_TENANT else tenant
    return f'"{hash_api_key(key)}": {value}'
