"""Single Gemini requests, packed into big batch jobs (docs/contracts.md § Requests and packing).

A request (``GenerateContentRequest`` + model) is validated when added
(:func:`check_request`, :func:`normalize_model`), stored with its pack assignment
(:class:`RequestStore`), written with its pack to Cloud Storage and submitted as one ordinary
submission by the packer, and answered from the job's output rows by the unpacker
(:class:`PackBook`).
"""

from vbq.requests.models import model_id, normalize_model
from vbq.requests.packs import AnswerCounts, PackBook
from vbq.requests.records import (
    Answer,
    NewRequest,
    PackRecord,
    PackState,
    RequestRecord,
    RequestState,
    request_id_for,
)
from vbq.requests.store import AddResult, RequestStore, pack_group
from vbq.requests.validate import ROUTE_LABEL, TENANT_LABEL, check_request

__all__ = [
    "ROUTE_LABEL",
    "TENANT_LABEL",
    "AddResult",
    "Answer",
    "AnswerCounts",
    "NewRequest",
    "PackBook",
    "PackRecord",
    "PackState",
    "RequestRecord",
    "RequestState",
    "RequestStore",
    "check_request",
    "model_id",
    "normalize_model",
    "pack_group",
    "request_id_for",
]
