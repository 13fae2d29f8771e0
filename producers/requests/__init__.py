"""Request-level submission: single Gemini requests, packed into big batch jobs.

``Client.add_request`` / ``add_requests`` / ``get_request`` (:class:`RequestsMixin`) return
:class:`RequestHandle` objects; see docs/contracts.md § Requests and packing.
"""

from vbq.producers.requests.client import RequestBatch, RequestsMixin
from vbq.producers.requests.handle import RequestHandle, RequestView

__all__ = ["RequestBatch", "RequestHandle", "RequestView", "RequestsMixin"]
