"""Vertex resource names: validation, the location they live in, the routing header.

Names are pasted into URL paths, so anything that is not a plain ``projects/…/locations/…``
resource name is refused before a byte is sent (no ``..``, ``?``, ``#``, ``:``, spaces
or empty segments): a malformed name can never turn into a request to some other path.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from vbq.errors import VertexPermanentError

__all__ = ["check_api_version", "check_name", "location_of", "routing_header"]

# No ":" so that a name can never smuggle in a custom verb (``:cancel``) of its own.
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._~@-]*"
_NAME = re.compile(rf"^projects/{_SEGMENT}/locations/{_SEGMENT}(?:/{_SEGMENT})*$")
_API_VERSION = re.compile(r"^v\d+(?:(?:alpha|beta)\d*)?$")


def check_name(name: str, *, kind: str, method: str = "") -> str:
    """Return ``name`` unchanged if it is a well-formed ``projects/P/locations/L[/…]`` name.

    Args:
        name: the resource name (a parent, a job, an operation).
        kind: what the name is (``parent`` must be exactly ``projects/P/locations/L``;
            anything else is used only in the error message).
        method: the client method, carried by the error.

    Raises:
        VertexPermanentError: ``INVALID_ARGUMENT`` when the name is malformed; nothing is sent.
    """
    bad = not isinstance(name, str) or not _NAME.match(name)
    if not bad and kind == "parent" and name.count("/") != 3:
        bad = True  # a parent is exactly projects/P/locations/L
    if bad:
        raise VertexPermanentError(
            f"{kind} must look like projects/P/locations/L[/...], got {name!r}",
            status="INVALID_ARGUMENT",
            method=method,
        )
    return name


def location_of(name: str) -> str:
    """The ``L`` of ``projects/P/locations/L/…`` (the name must already be checked)."""
    parts = name.split("/")
    return parts[3]


def routing_header(key: str, value: str) -> str:
    """The ``x-goog-request-params`` value Google's clients send (``/`` left unencoded)."""
    return urlencode({key: value}, safe="/")


def check_api_version(api_version: str, method: str) -> str:
    """Return ``api_version`` if it looks like ``v1``, ``v1beta1``, ``v2alpha``...

    Raises:
        VertexPermanentError: ``INVALID_ARGUMENT``; nothing is sent.
    """
    if not _API_VERSION.match(api_version):
        raise VertexPermanentError(
            f"unknown api_version {api_version!r}", status="INVALID_ARGUMENT", method=method
        )
    return api_version
