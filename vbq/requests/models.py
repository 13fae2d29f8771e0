"""Which models a request may name, and their resource names.

A request names a Gemini model the way Google's SDKs do: ``gemini-2.0-flash-001``,
``publishers/google/models/gemini-2.0-flash-001`` or a fully qualified
``projects/P/locations/L/publishers/google/models/gemini-…``; or a tuned Gemini model
``projects/P/locations/L/models/ID``. Anything else (another publisher's model, a custom model
id, a typo) is refused when the request is added. ``VBQ_REQUEST_MODELS`` narrows the choice to
a list (ids or resource names).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from vbq.errors import SpecError

__all__ = ["GEMINI_PUBLISHER", "model_id", "normalize_model"]

GEMINI_PUBLISHER = "publishers/google/models/"

_ID = r"[a-z0-9][a-z0-9._-]{0,127}"
_GEMINI_ID = re.compile(r"^gemini(-[a-z0-9._-]{1,120})?$")
_PUBLISHER = re.compile(
    rf"^(projects/[a-z0-9_-]+/locations/[a-z0-9-]+/)?publishers/google/models/(?P<id>{_ID})$"
)
_TUNED = re.compile(r"^projects/[a-z0-9_-]+/locations/[a-z0-9-]+/models/[A-Za-z0-9_-]{1,128}$")


def model_id(model: str) -> str:
    """The last path segment of a model name (``gemini-2.0-flash-001``), without ``@version``."""
    return model.rsplit("/", 1)[-1].split("@", 1)[0]


def normalize_model(model: object, *, allowed: Sequence[str] = ()) -> str:
    """The model resource name a packed job uses for ``model``.

    Args:
        model: what the caller gave (see the module docstring for the forms).
        allowed: ``VBQ_REQUEST_MODELS``; when non-empty the model (its id or resource name)
            must be in it.

    Raises:
        SpecError: field ``model``, rule ``type``, ``unknown`` or ``not_allowed``.
    """
    if not isinstance(model, str) or not model:
        raise SpecError.single("model", "type", "model must be a non-empty string")
    text = model.strip()
    if _GEMINI_ID.match(text):
        resource = GEMINI_PUBLISHER + text
    else:
        match = _PUBLISHER.match(text)
        if (match and match.group("id").startswith("gemini")) or _TUNED.match(text):
            resource = text
        else:
            raise SpecError.single(
                "model",
                "unknown",
                f"model {text[:80]!r} is not a Gemini model: use gemini-…, publishers/google/"
                "models/gemini-… or a tuned model projects/P/locations/L/models/ID",
            )
    if (
        allowed
        and text not in allowed
        and resource not in allowed
        and model_id(text) not in allowed
    ):
        raise SpecError.single(
            "model", "not_allowed", f"model {text[:80]!r} is not in VBQ_REQUEST_MODELS"
        )
    return resource
