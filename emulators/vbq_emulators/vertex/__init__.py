"""Local Vertex AI batch prediction emulator (``vbq emulator vertex``).

Google's SDK works against it unchanged::

    aiplatform.init(project="p", location="us-central1", api_transport="rest",
                    api_endpoint="http://127.0.0.1:PORT", credentials=AnonymousCredentials())

(the REST transport keeps an explicit ``http://`` scheme, so no flag is needed).
Timing and faults: :mod:`vbq_emulators.vertex.config`; HTTP surface and admin API:
:mod:`vbq_emulators.vertex.server`; job lifecycle: :mod:`vbq_emulators.vertex.jobs`.
"""

from vbq_emulators.vertex.config import METHOD_KINDS, EmulatorConfig
from vbq_emulators.vertex.filters import JobView, parse_filter
from vbq_emulators.vertex.jobs import JobStore, planned_outcome
from vbq_emulators.vertex.server import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, VertexEmulator
from vbq_emulators.vertex.validation import validate_create_body

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "METHOD_KINDS",
    "EmulatorConfig",
    "JobStore",
    "JobView",
    "VertexEmulator",
    "parse_filter",
    "planned_outcome",
    "validate_create_body",
]
