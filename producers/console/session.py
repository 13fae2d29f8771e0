"""Who is looking: the console's session is the API key itself, in a cookie.

The login form takes an API key; the console keeps it in one cookie (``HttpOnly``: page
scripts cannot read it; ``SameSite=Strict``: no other site's page can send it; ``Secure``
when served over https; ``Path=/console``) and checks it against the keys file on every
request, so revoking a key ends its sessions at once. Nothing is stored on the server.

Forms that change something (cancel) also carry a CSRF token, an HMAC of a constant under the
session's key: only a page served to that session can know it, and it needs no server state.
Requests with an ``Origin`` header from another origin are refused as well.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from vbq.producers.api.auth import KeyLookup
from vbq.producers.tenancy import ADMIN_TENANT

__all__ = [
    "COOKIE_NAME",
    "COOKIE_PATH",
    "Viewer",
    "clear_session",
    "same_origin",
    "set_session",
    "viewer_of",
]

COOKIE_NAME = "vbq_console"
COOKIE_PATH = "/console"
_CSRF_MESSAGE = b"vbq-console-csrf/1"


@dataclass(frozen=True)
class Viewer:
    """The holder of a valid API key.

    Attributes:
        key: the API key (never rendered into a page).
        tenant: the key's tenant, or ``"*"`` for an admin key.
    """

    key: str
    tenant: str

    @property
    def admin(self) -> bool:
        """True for an admin key: every tenant is visible."""
        return self.tenant == ADMIN_TENANT

    @property
    def scope(self) -> str | None:
        """The tenant reads are limited to; None for an admin key (every tenant)."""
        return None if self.admin else self.tenant

    @property
    def label(self) -> str:
        """How the page names the viewer."""
        return "admin (every tenant)" if self.admin else f"tenant {self.tenant}"

    def can_see(self, tenant: str) -> bool:
        """True when a submission of ``tenant`` is visible to this viewer."""
        return self.admin or tenant == self.tenant

    @property
    def csrf_token(self) -> str:
        """The token forms of this session carry (hex HMAC-SHA256 under the key)."""
        return hmac.new(self.key.encode(), _CSRF_MESSAGE, hashlib.sha256).hexdigest()

    def check_csrf(self, token: str | None) -> bool:
        """True when ``token`` is this session's CSRF token (constant time)."""
        return bool(token) and hmac.compare_digest(self.csrf_token, str(token))


def viewer_of(request: Request, keyring: KeyLookup) -> Viewer | None:
    """The viewer of the request's session cookie, or None (no cookie, or a key no longer in
    the keys file)."""
    key = request.cookies.get(COOKIE_NAME)
    tenant = keyring.tenant_for(key)
    if tenant is None or key is None:
        return None
    return Viewer(key=key, tenant=tenant)


def set_session(response: Response, request: Request, key: str) -> None:
    """Put ``key`` in the session cookie (for the browser session only: no ``Max-Age``)."""
    response.set_cookie(
        COOKIE_NAME,
        key,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_https(request),
    )


def clear_session(response: Response, request: Request) -> None:
    """Remove the session cookie."""
    response.delete_cookie(
        COOKIE_NAME, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_https(request)
    )


def same_origin(request: Request) -> bool:
    """False when the request names another origin (``Origin``, else ``Referer``); True when
    it names this one or none (older clients, curl)."""
    claimed = request.headers.get("origin") or ""
    if not claimed or claimed == "null":
        referer = request.headers.get("referer") or ""
        if not referer:
            return claimed != "null"
        claimed = "/".join(referer.split("/", 3)[:3])
    host = request.headers.get("host") or request.url.netloc
    return claimed in {f"{scheme}://{host}" for scheme in ("http", "https")}


def _https(request: Request) -> bool:
    # Behind a TLS-terminating proxy, uvicorn's --proxy-headers sets the scheme from
    # X-Forwarded-Proto; the cookie must then be Secure too.
    return request.url.scheme == "https"
