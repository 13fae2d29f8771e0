"""Check the keyword arguments of ``BatchPredictionJob.submit()`` and normalize them.

:func:`validate` returns the canonical field values of a :class:`~vbq.spec.JobSpec` (only the
ones that differ from their defaults) or raises one :class:`SpecError` listing every broken rule.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from vbq.errors import SpecError
from vbq.spec import names
from vbq.spec.data_io import validate_io
from vbq.spec.labels import user_labels
from vbq.spec.messages import message_dict
from vbq.spec.monitoring import validate_monitoring
from vbq.spec.parameters import (
    MAX_DISPLAY_NAME_CHARS,
    REJECTED_PARAMETERS,
    SDK_PARAMETERS,
)
from vbq.spec.problems import Problems, shown
from vbq.spec.protos import accelerator_types
from vbq.spec.values import INT32_MAX, as_bool, as_int, as_seconds, as_str, as_text, json_value

__all__ = ["checked_kwargs", "validate"]

MAX_NAME_CHARS = 1024
MAX_TIMEOUT_S = 3600.0
_DEDICATED = (
    "accelerator_type",
    "accelerator_count",
    "starting_replica_count",
    "max_replica_count",
)


# Text parameters: the longest text, the pattern it must match, and what the pattern means.
_TEXT_RULES: dict[str, tuple[int, re.Pattern[str] | None, str]] = {
    "job_display_name": (MAX_DISPLAY_NAME_CHARS, None, ""),
    "project": (100, names.PROJECT_RE, "a project ID like 'my-project' or a project number"),
    "location": (64, names.LOCATION_RE, "a region like 'us-central1'"),
    "machine_type": (
        64,
        names.MACHINE_TYPE_RE,
        "a Compute Engine machine type like 'n1-standard-4'",
    ),
    "encryption_spec_key_name": (
        MAX_NAME_CHARS,
        names.KMS_KEY_RE,
        "projects/P/locations/L/keyRings/R/cryptoKeys/K",
    ),
    "service_account": (254, names.SERVICE_ACCOUNT_RE, "a service account e-mail"),
}


def _text(problems: Problems, kwargs: dict[str, Any], name: str) -> str | None:
    max_chars, pattern, hint = _TEXT_RULES[name]
    return as_text(
        problems, name, kwargs[name], max_chars=max_chars, pattern=pattern, rule_hint=hint
    )


def validate(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate SDK keyword arguments; return the canonical non-default field values.

    Raises:
        SpecError: one entry per broken rule, each naming the SDK parameter.
    """
    problems = Problems()
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            problems.add("spec", "type", f"parameter names must be strings, got {shown(key)}")
        elif key not in SDK_PARAMETERS:
            close = difflib.get_close_matches(key, SDK_PARAMETERS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            # A hostile key (empty, control characters) is quoted so the field name stays sane.
            field = key if key.isprintable() and key.strip() == key and key else shown(key)
            problems.add(
                field, "unknown", f"unknown parameter of BatchPredictionJob.submit(){hint}"
            )
        elif key in REJECTED_PARAMETERS:
            if value is not None:
                problems.add(key, "not_accepted", REJECTED_PARAMETERS[key])
        elif value is not None:
            kwargs[key] = value
    out: dict[str, Any] = {}
    _names(problems, kwargs, out)
    validate_io(problems, kwargs, out)
    _compute(problems, kwargs, out)
    _explanation(problems, kwargs, out)
    _options(problems, kwargs, out)
    objective, alert, schema_uri = validate_monitoring(problems, kwargs)
    for name, value in (
        ("model_monitoring_objective_config", objective),
        ("model_monitoring_alert_config", alert),
        ("analysis_instance_schema_uri", schema_uri),
    ):
        if value is not None:
            out[name] = value
    problems.raise_if_any()
    return {name: value for name, value in out.items() if value is not None}


def _names(problems: Problems, kwargs: dict[str, Any], out: dict[str, Any]) -> None:
    for name in ("job_display_name", "project", "location"):
        if name in kwargs:
            out[name] = _text(problems, kwargs, name)
    model = kwargs.get("model_name")
    if model is None:
        problems.add("model_name", "required", "is required")
        return
    # An aiplatform.Model stands for its versioned resource name, as in the SDK.
    versioned = getattr(model, "versioned_resource_name", None)
    if not isinstance(model, str) and isinstance(versioned, str):
        model = versioned
    text = as_text(problems, "model_name", model, max_chars=MAX_NAME_CHARS)
    if text is None:
        return
    parsed = names.parse_model_name(text)
    if parsed is None:
        problems.add(
            "model_name", "format", f"malformed {shown(text)}: {names.model_name_hint(text)}"
        )
        return
    out["model_name"] = text
    location = out.get("location")
    if location and parsed.location and parsed.location != location:
        problems.add(
            "model_name",
            "location_mismatch",
            f"the model is in {parsed.location!r} but location is {location!r}; "
            "a batch job runs in its model's region",
        )


def _compute(problems: Problems, kwargs: dict[str, Any], out: dict[str, Any]) -> None:
    if "machine_type" not in kwargs:
        for name in (*_DEDICATED, "batch_size"):
            if name in kwargs:
                problems.add(
                    name,
                    "requires_machine_type",
                    "only allowed with machine_type (the SDK would silently drop it)",
                )
        return
    out["machine_type"] = _text(problems, kwargs, "machine_type")
    if "accelerator_type" in kwargs:
        accelerator = as_str(problems, "accelerator_type", kwargs["accelerator_type"])
        if accelerator is not None and accelerator not in accelerator_types():
            problems.add(
                "accelerator_type",
                "choice",
                f"{shown(accelerator)} is not an AcceleratorType; one of "
                + ", ".join(sorted(accelerator_types())),
            )
        else:
            out["accelerator_type"] = accelerator
    for name in ("accelerator_count", "starting_replica_count", "max_replica_count", "batch_size"):
        if name in kwargs:
            out[name] = as_int(problems, name, kwargs[name], minimum=1, maximum=INT32_MAX)
    if "accelerator_count" in kwargs and "accelerator_type" not in kwargs:
        problems.add("accelerator_count", "requires", "only allowed with accelerator_type")
    starting, maximum = out.get("starting_replica_count"), out.get("max_replica_count")
    if starting is not None and maximum is not None and maximum < starting:
        problems.add(
            "max_replica_count",
            "range",
            f"must be >= starting_replica_count ({starting}), got {maximum}",
        )


def _explanation(problems: Problems, kwargs: dict[str, Any], out: dict[str, Any]) -> None:
    generate = False
    if "generate_explanation" in kwargs:
        generate = bool(as_bool(problems, "generate_explanation", kwargs["generate_explanation"]))
        out["generate_explanation"] = generate or None
    for name, message in (
        ("explanation_metadata", "ExplanationMetadata"),
        ("explanation_parameters", "ExplanationParameters"),
    ):
        if name not in kwargs:
            continue
        out[name] = message_dict(problems, name, kwargs[name], message=message, api_version="v1")
        if not generate and not problems.has("generate_explanation"):
            problems.add(name, "requires", "only allowed with generate_explanation=True")


def _options(problems: Problems, kwargs: dict[str, Any], out: dict[str, Any]) -> None:
    if "model_parameters" in kwargs:
        # The SDK sends model_parameters only when truthy; keep the spec equal to what is sent.
        out["model_parameters"] = (
            json_value(problems, "model_parameters", kwargs["model_parameters"]) or None
        )
    if "labels" in kwargs:
        out["labels"] = user_labels(problems, "labels", kwargs["labels"])
    if "encryption_spec_key_name" in kwargs:
        key = _text(problems, kwargs, "encryption_spec_key_name")
        out["encryption_spec_key_name"] = key
        location = out.get("location")
        match = names.KMS_KEY_RE.fullmatch(key) if key else None
        if match and location and match["location"] != location:
            problems.add(
                "encryption_spec_key_name",
                "location_mismatch",
                f"the key is in {match['location']!r} but the job runs in {location!r}",
            )
    if "service_account" in kwargs:
        out["service_account"] = _text(problems, kwargs, "service_account")
    if "create_request_timeout" in kwargs:
        out["create_request_timeout"] = as_seconds(
            problems,
            "create_request_timeout",
            kwargs["create_request_timeout"],
            maximum_s=MAX_TIMEOUT_S,
        )


def checked_kwargs(raw: object) -> Mapping[str, Any]:
    """``raw`` as a mapping of parameters, for ``from_dict``.

    Raises:
        SpecError: ``raw`` is not a mapping (field ``spec``).
    """
    if not isinstance(raw, Mapping):
        raise SpecError.single("spec", "type", f"must be a JSON object, got {type(raw).__name__}")
    return raw
