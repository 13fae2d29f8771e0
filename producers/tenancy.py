"""Tenant names: who owns a submission (scopes listing, reads, cancels and API keys)."""

from __future__ import annotations

import re

__all__ = ["ADMIN_TENANT", "TENANT_PATTERN"]

TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
"""Lowercase letters, digits, ``_`` and ``-``, at most 63 characters: tenants end up in Redis
keys, event attributes and Vertex label values."""

ADMIN_TENANT = "*"
"""The tenant of an admin API key in the keys file: it sees every tenant's submissions (the
console, reads and cancels of the JSON API) and cannot submit. Not a valid tenant name, so no
submission can ever belong to it."""
