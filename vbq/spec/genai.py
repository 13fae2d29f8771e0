"""google-genai's batch request form (``model``, ``src``, ``config``) as SDK keyword arguments.

``client.batches.create(model=..., src=..., config=...)`` on Vertex AI (``vertexai=True``)
sends a ``BatchPredictionJob``; this module maps the same three arguments the way genai does
(``_transformers.t_model``, ``t_batch_job_source``, ``t_batch_job_destination`` and
``_extra_utils.format_destination``), so code moving from genai to ``vbq.Client.create_batch``
keeps its arguments:

* ``model``: a short name ``gemini-2.0-flash-001`` → ``publishers/google/models/…``;
  ``publisher/name`` → ``publishers/publisher/models/name``; names starting ``projects/``,
  ``publishers/`` or ``models/`` are kept.
* ``src``: ``gs://…`` (jsonl) or ``bq://…`` (bigquery) as a string, or a ``BatchJobSource``
  (object or dict: ``format``, ``gcs_uri`` list, ``bigquery_uri``).
* ``config``: ``display_name`` and ``dest`` (``gs://…``, ``bq://…`` or a
  ``BatchJobDestination``: ``format``, ``gcs_uri``, ``bigquery_uri``).
* Defaults as genai's: display name ``genai_batch_job_{unique}``; destination
  ``{source without .jsonl}/dest`` for a ``.jsonl`` Cloud Storage source and
  ``{bq source}_dest_{unique}`` for a BigQuery one.

What genai supports only on the Gemini Developer API (inlined requests, ``files/`` names,
webhooks) and Vertex dataset sources are refused, naming the argument.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from vbq.spec.problems import Problems, shown

__all__ = ["sdk_kwargs_from_genai", "unique_name", "vertex_model_name"]

_DEV_API_ONLY = "is only supported on the Gemini Developer API, not on Vertex AI"


def unique_name(stable_key: str | None = None) -> str:
    """The suffix of generated names: genai's ``{YYYYmmddHHMMSS}_{5 random hex}``, or, for a
    request with an idempotency key, 12 hex digits derived from ``stable_key`` (a retry must
    build the same spec, or the key would report a conflict)."""
    if stable_key is not None:
        return hashlib.sha256(stable_key.encode("utf-8")).hexdigest()[:12]
    return f"{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}_{uuid.uuid4().hex[:5]}"


def vertex_model_name(problems: Problems, model: object) -> str | None:
    """The model resource name genai sends on Vertex AI for ``model`` (``t_model``)."""
    if not isinstance(model, str) or not model:
        problems.add("model", "required", "must be a model name like 'gemini-2.0-flash-001'")
        return None
    if ".." in model or "?" in model or "&" in model:
        problems.add("model", "format", f"invalid model name {shown(model)}")
        return None
    if model.startswith(("projects/", "models/", "publishers/")):
        return model
    if "/" in model:
        publisher, name = model.split("/", 1)
        return f"publishers/{publisher}/models/{name}"
    return f"publishers/google/models/{model}"


def sdk_kwargs_from_genai(
    *, model: object, src: object, config: object, unique: str
) -> dict[str, Any]:
    """Keyword arguments of ``BatchPredictionJob.submit()`` for genai's create arguments.

    Args:
        model: genai's ``model``.
        src: genai's ``src`` (string, ``BatchJobSource`` or its dict).
        config: genai's ``CreateBatchJobConfig`` (object or dict) or None.
        unique: the suffix of generated names (genai: a timestamp and 5 random hex digits).

    Raises:
        SpecError: an argument genai would refuse on Vertex AI, or one vbq does not support
            (fields ``model``, ``src``, ``src.gcs_uri``, ``config.dest``, ...).
    """
    problems = Problems()
    kwargs: dict[str, Any] = {}
    name = vertex_model_name(problems, model)
    if name is not None:
        kwargs["model_name"] = name
    first_gcs, bigquery = _source(problems, src, kwargs)
    options = _fields(problems, "config", config)
    for key in ("webhook_config",):
        if options.get(key) is not None:
            problems.add(f"config.{key}", "unsupported", _DEV_API_ONLY)
    if options.get("http_options") is not None:
        problems.add("config.http_options", "unsupported", "vbq sends no HTTP request of yours")
    unknown = sorted(set(options) - {"display_name", "dest", "webhook_config", "http_options"})
    for key in unknown:
        problems.add(f"config.{key}", "unknown", "not a field of CreateBatchJobConfig")
    display = options.get("display_name")
    kwargs["job_display_name"] = display if display else f"genai_batch_job_{unique}"
    dest = options.get("dest")
    if not dest:
        if first_gcs and first_gcs.endswith(".jsonl"):
            dest = f"{first_gcs[:-6]}/dest"
        elif bigquery:
            dest = f"{bigquery}_dest_{unique}"
        else:
            problems.add(
                "config.dest",
                "required",
                "no default destination for this source (genai derives one only from a "
                "gs://….jsonl or bq:// source); give config.dest",
            )
    if dest:
        _destination(problems, dest, kwargs)
    problems.raise_if_any()
    return kwargs


def _source(
    problems: Problems, src: object, kwargs: dict[str, Any]
) -> tuple[str | None, str | None]:
    """Put the source into ``kwargs``; returns (first gs:// URI, bq:// URI) for defaults."""
    if isinstance(src, str):
        if src.startswith("gs://"):
            kwargs.update(gcs_source=[src], instances_format="jsonl")
            return src, None
        if src.startswith("bq://"):
            kwargs["bigquery_source"] = src
            return None, src
        problems.add(
            "src", "unsupported", f"must be gs://… or bq://… on Vertex AI, got {shown(src)}"
        )
        return None, None
    if isinstance(src, list | tuple):
        problems.add("src", "unsupported", f"inlined requests {_DEV_API_ONLY}")
        return None, None
    fields = _fields(problems, "src", src)
    for key in ("inlined_requests", "file_name"):
        if fields.get(key) is not None:
            problems.add(f"src.{key}", "unsupported", _DEV_API_ONLY)
    if fields.get("vertex_dataset_name") is not None:
        problems.add(
            "src.vertex_dataset_name",
            "unsupported",
            "Vertex dataset sources are not supported by vbq",
        )
    gcs, bigquery = fields.get("gcs_uri"), fields.get("bigquery_uri")
    if (gcs is not None) == (bigquery is not None):
        problems.add("src", "one_source", "give exactly one of gcs_uri or bigquery_uri")
        return None, None
    fmt = fields.get("format")
    if gcs is not None:
        uris = [gcs] if isinstance(gcs, str) else gcs
        kwargs["gcs_source"] = uris
        kwargs["instances_format"] = fmt or "jsonl"
        first = uris[0] if isinstance(uris, list | tuple) and uris else None
        return first if isinstance(first, str) else None, None
    kwargs["bigquery_source"] = bigquery
    if fmt is not None:
        kwargs["instances_format"] = fmt
    return None, bigquery if isinstance(bigquery, str) else None


def _destination(problems: Problems, dest: object, kwargs: dict[str, Any]) -> None:
    if isinstance(dest, str):
        if dest.startswith("gs://"):
            kwargs.update(gcs_destination_prefix=dest, predictions_format="jsonl")
        elif dest.startswith("bq://"):
            kwargs["bigquery_destination_prefix"] = dest
        else:
            problems.add(
                "config.dest", "unsupported", f"must be gs://… or bq://…, got {shown(dest)}"
            )
        return
    fields = _fields(problems, "config.dest", dest)
    for key in (
        "file_name",
        "inlined_responses",
        "inlined_embed_content_responses",
        "vertex_dataset",
    ):
        if fields.get(key) is not None:
            problems.add(
                f"config.dest.{key}", "unsupported", "is not supported on Vertex AI by vbq"
            )
    gcs, bigquery, fmt = fields.get("gcs_uri"), fields.get("bigquery_uri"), fields.get("format")
    if (gcs is not None) == (bigquery is not None):
        problems.add(
            "config.dest", "one_destination", "give exactly one of gcs_uri or bigquery_uri"
        )
        return
    if gcs is not None:
        kwargs["gcs_destination_prefix"] = gcs
        kwargs["predictions_format"] = fmt or "jsonl"
    else:
        kwargs["bigquery_destination_prefix"] = bigquery
        if fmt is not None:
            kwargs["predictions_format"] = fmt


def _fields(problems: Problems, field: str, value: object) -> dict[str, Any]:
    """The set fields of a genai pydantic object or dict (None entries dropped)."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items() if v is not None}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            data = dump(exclude_none=True)
        except Exception as exc:  # a foreign object's model_dump may fail in any way
            problems.add(field, "type", f"could not read {type(value).__name__}: {exc}")
            return {}
        if isinstance(data, Mapping):
            return {str(k): v for k, v in data.items() if v is not None}
    problems.add(field, "type", f"must be a dict or a genai object, got {type(value).__name__}")
    return {}
