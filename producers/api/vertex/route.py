"""The surface's route class and its API-key dependency.

:class:`GoogleRoute` answers every exception raised by a route or its dependencies with
Google's error envelope (:func:`~vbq.producers.api.vertex.errors.response_for`), so the
surface never answers with the problem+json documents of vbq's own API, whatever fails.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.responses import Response

from vbq.producers.api.auth import KeyLookup
from vbq.producers.api.vertex.errors import GoogleApiError, response_for, unauthenticated
from vbq.producers.tenancy import ADMIN_TENANT

__all__ = ["GoogleRoute", "TenantDep", "google_tenant"]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="GoogleBearer",
    description="Authorization: Bearer vbq_… (the vbq API key as the OAuth 2 token)",
)
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="vbq_...")


class GoogleRoute(APIRoute):
    """An ``APIRoute`` whose errors are Google's JSON envelope."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return response_for(exc)

        return guarded


def google_tenant(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> str:
    """The tenant of the vbq API key Google's SDKs send as their bearer token.

    Raises:
        GoogleApiError: 401 UNAUTHENTICATED for a missing or unknown key.
    """
    keyring: KeyLookup = request.app.state.keyring
    key = bearer.credentials if bearer is not None else api_key
    if not key:
        raise unauthenticated("no credentials were sent")
    tenant = keyring.tenant_for(key)
    if tenant is None:
        raise unauthenticated("the key is not known")
    if tenant == ADMIN_TENANT:  # an admin key belongs to no tenant (console and reads only)
        raise GoogleApiError(
            "PERMISSION_DENIED", "An admin key cannot act here: use a tenant's key."
        )
    return tenant


# Module level: FastAPI resolves string annotations in the module's namespace.
TenantDep = Annotated[str, Depends(google_tenant)]
