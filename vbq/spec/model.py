"""``JobSpec``: a validated ``BatchPredictionJob.submit()`` call, ready to queue."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, fields
from typing import Any

from google.protobuf import json_format

from vbq.errors import SpecError
from vbq.spec import names
from vbq.spec.parameters import JobParameters
from vbq.spec.problems import Problems
from vbq.spec.resolved import JobTarget, ResolvedRequest
from vbq.spec.validate import checked_kwargs, validate
from vbq.spec.values import as_text
from vbq.spec.wire import build_body

__all__ = ["DEFAULT_DISPLAY_NAME_PREFIX", "JobSpec"]

DEFAULT_DISPLAY_NAME_PREFIX = "BatchPredictionJob"
MAX_JSON_CHARS = 4_000_000


@dataclass(frozen=True, kw_only=True)
class JobSpec(JobParameters):
    """One batch prediction job request, with the parameters of the SDK's ``submit()``.

    The fields are :class:`~vbq.spec.parameters.JobParameters` (the one parameter list).

    Build it with :meth:`from_sdk_kwargs`, :meth:`from_dict` or :meth:`from_json`; the
    constructor does not validate. Every field is stored in canonical form (``gcs_source`` as a
    tuple, ``bq://`` added to BigQuery destinations, message configs as camelCase dicts, formats
    forced to ``"bigquery"`` with BigQuery) so that equal requests compare, serialize and
    :meth:`fingerprint` equal.

    Parameters of the SDK that mean nothing in a queue are refused: ``credentials`` (workers use
    Application Default Credentials) and ``sync`` (a queued job is always asynchronous; wait on
    the submission handle instead). Where the SDK silently drops an argument (accelerator,
    replica counts or ``batch_size`` without ``machine_type``; explanation configs without
    ``generate_explanation=True``; monitoring alert or schema without an objective) the spec
    refuses it instead. A missing ``job_display_name`` becomes
    ``"BatchPredictionJob <first 16 hex of the fingerprint>"``: the SDK uses the local time,
    but a deterministic name keeps retried creates identical.
    """

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    @classmethod
    def from_sdk_kwargs(cls, **kwargs: Any) -> JobSpec:
        """Validate the keyword arguments of ``BatchPredictionJob.submit()``.

        Raises:
            SpecError: one entry per broken rule, naming the parameter (``labels.team``,
                ``gcs_source[1]``) and the rule; nothing else escapes for any input.
        """
        return cls._build(kwargs)

    @classmethod
    def from_dict(cls, data: object) -> JobSpec:
        """Rebuild a spec from :meth:`to_dict` output (or any dict of SDK keyword arguments).

        Raises:
            SpecError: ``data`` is not a mapping or breaks a rule.
        """
        return cls._build(data)

    @classmethod
    def from_json(cls, text: str | bytes) -> JobSpec:
        """Rebuild a spec from :meth:`to_json` output.

        Raises:
            SpecError: not JSON (field ``spec``), NaN/Infinity literals, larger than 4 MB, or a
                broken rule.
        """
        try:
            if not isinstance(text, str | bytes):
                raise SpecError.single(
                    "spec", "type", f"must be JSON text, got {type(text).__name__}"
                )
            if len(text) > MAX_JSON_CHARS:
                raise SpecError.single(
                    "spec", "size", f"JSON larger than {MAX_JSON_CHARS} characters"
                )
            data = json.loads(text, parse_constant=_refuse_constant)
        except SpecError:
            raise
        except (ValueError, RecursionError) as err:
            raise SpecError.single("spec", "json", f"not valid JSON: {err}") from None
        return cls._build(data)

    @classmethod
    def _build(cls, data: object) -> JobSpec:
        try:
            return cls(**validate(checked_kwargs(data)))
        except SpecError:
            raise
        except Exception as err:
            # Invariant 5 (docs/architecture.md § Invariants): bad input never crashes a caller
            # with anything but SpecError. Reaching this is a bug in the validators; the rule
            # name makes tests notice it.
            raise SpecError.single(
                "spec", "internal", f"could not validate ({type(err).__name__})"
            ) from err

    def to_dict(self) -> dict[str, Any]:
        """The non-default fields as SDK keyword arguments (JSON-compatible, a deep copy)."""
        result: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value == item.default:
                continue
            result[item.name] = list(value) if isinstance(value, tuple) else copy.deepcopy(value)
        return result

    def to_json(self) -> str:
        """Canonical JSON of :meth:`to_dict` (sorted keys, no spaces, UTF-8 kept)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def fingerprint(self) -> str:
        """SHA-256 hex digest of :meth:`to_json`; equal specs have equal fingerprints."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    def target(self, *, default_project: str | None, default_location: str | None) -> JobTarget:
        """The project, location and model of the job, without building its body.

        The job's project is ``project`` or ``default_project``. Its location is ``location``,
        else the region in a fully qualified ``model_name`` (Vertex runs a job next to its model;
        the SDK would use its default region and fail at Google), else ``default_location``.
        Every error :meth:`resolve` raises for a validated spec is raised here (the body check
        against Google's types only fails on a gap in validation), so producers check with
        this (microseconds) and leave building the body to the worker.

        Raises:
            SpecError: no project or location can be found or a default is malformed (fields
                ``project``/``location``), or the KMS key is in another region
                (``encryption_spec_key_name``).
        """
        problems = Problems()
        parsed = names.parse_model_name(self.model_name)
        if parsed is None:  # only reachable for a spec built without validation
            raise SpecError.single("model_name", "format", "malformed model name")
        project = self.project or _default(
            problems, "project", default_project, names.PROJECT_RE, "set VBQ_PROJECT"
        )
        location = (
            self.location
            or parsed.location
            or _default(
                problems, "location", default_location, names.LOCATION_RE, "set VBQ_LOCATION"
            )
        )
        key = names.KMS_KEY_RE.fullmatch(self.encryption_spec_key_name or "")
        if key and location and key["location"] != location:
            problems.add(
                "encryption_spec_key_name",
                "location_mismatch",
                f"the key is in {key['location']!r} but the job runs in {location!r}",
            )
        problems.raise_if_any()
        assert project is not None and location is not None
        model = parsed.resolve(project=project, location=location)
        return JobTarget(project=project, location=location, model=model)

    def resolve(
        self, *, default_project: str | None, default_location: str | None
    ) -> ResolvedRequest:
        """The create request: project, location, model and body, as the SDK would send them.

        Project, location and model as in :meth:`target`; the body goes through Google's
        ``BatchPredictionJob`` message type (about 0.1 ms).

        Raises:
            SpecError: as :meth:`target`; or the body does not fit Google's message type
                (field ``spec``, rule ``google_message``: validation let through something
                Google's types refuse, so the submit task rejects it instead of retrying).
        """
        target = self.target(default_project=default_project, default_location=default_location)
        display_name = self.job_display_name or (
            f"{DEFAULT_DISPLAY_NAME_PREFIX} {self.fingerprint()[:16]}"
        )
        try:
            body, api_version = build_body(self, model=target.model, display_name=display_name)
        except json_format.ParseError as exc:
            raise SpecError.single(
                "spec", "google_message", f"does not fit Google's BatchPredictionJob: {exc}"
            ) from None
        return ResolvedRequest(
            project=target.project,
            location=target.location,
            parent=f"projects/{target.project}/locations/{target.location}",
            api_version=api_version,
            body=body,
            model=target.model,
            timeout_s=self.create_request_timeout,
        )


def _default(
    problems: Problems, field: str, value: str | None, pattern: Any, hint: str
) -> str | None:
    if value is None or value == "":
        problems.add(field, "required", f"not given and no default ({hint})")
        return None
    return as_text(problems, field, value, max_chars=100, pattern=pattern)


def _refuse_constant(name: str) -> Any:
    raise SpecError.single("spec", "finite", f"JSON constant {name} is not allowed")
