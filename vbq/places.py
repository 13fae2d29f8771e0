"""The deployment's places: where jobs may run, each place's limits, and where each model is.

A *place* is one (project, location): one shared Vertex quota, so one create rate, one
in-flight cap and one adaptive rate (docs/contracts.md § Scheduler, Placement). Three settings
describe the deployment (pure values, parsed once per :class:`~vbq.settings.Settings`):

* ``VBQ_LOCATIONS``: comma-separated locations submissions may name in ``locations``
  (empty: any well-formed location).
* ``VBQ_LOCATION_LIMITS``: JSON ``{"europe-west4": {"create_rate_per_min": 30},
  "my-proj/us-central1": {"max_in_flight": 50}}``: per-location (or per project/location, which
  wins) overrides of ``create_rate_per_min``, ``create_burst``, ``read_rate_per_min``,
  ``read_burst``, ``max_in_flight``, ``max_in_flight_per_model``, ``poll_interval_s`` and
  ``poll_max_interval_s`` (the place's poll schedule, :mod:`vbq.store.poll_schedule`).
* ``VBQ_MODEL_LOCATIONS``: JSON ``{"gemini-2.0-flash-001": ["us-central1", "europe-west4"]}``:
  where a model is available (keys: the model id, ``publishers/P/models/M`` or a full resource
  name); a model without an entry is taken to be available everywhere.

:func:`placement_problems` checks a submission's ``locations`` against these, and
:func:`model_at` rewrites a publisher model's resource name for the place chosen.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vbq.errors import ConfigError
from vbq.settings import Settings
from vbq.spec import JobSpec, names

__all__ = [
    "LIMIT_KEYS",
    "MAX_LOCATIONS",
    "Places",
    "model_at",
    "placed_spec",
    "placement_problems",
    "places_of",
    "settings_for_place",
]

LIMIT_KEYS: tuple[str, ...] = (
    "create_rate_per_min",
    "create_burst",
    "read_rate_per_min",
    "read_burst",
    "max_in_flight",
    "max_in_flight_per_model",
    "poll_interval_s",
    "poll_max_interval_s",
)
"""The settings a place may override in ``VBQ_LOCATION_LIMITS``."""

MAX_LOCATIONS = 16
"""Most locations one submission may name."""

_INT_KEYS = {"create_burst", "read_burst", "max_in_flight", "max_in_flight_per_model"}


@dataclass(frozen=True, kw_only=True)
class Places:
    """The deployment's places (module docstring).

    Attributes:
        locations: the locations submissions may name (empty: any).
        limits: ``"location"`` or ``"project/location"`` → setting name → value.
        model_locations: model key → the locations where it is available.
    """

    locations: tuple[str, ...] = ()
    limits: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    model_locations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, *, locations: str, limits: str, model_locations: str) -> Places:
        """Build from the raw values of ``VBQ_LOCATIONS``, ``VBQ_LOCATION_LIMITS`` and
        ``VBQ_MODEL_LOCATIONS``.

        Raises:
            ConfigError: malformed JSON, an unknown key, a malformed location or a value out
                of range (names the variable).
        """
        listed = tuple(x.strip() for x in locations.split(",") if x.strip())
        for loc in listed:
            _check_location(loc, "VBQ_LOCATIONS")
        raw_limits = _json_object(limits, "VBQ_LOCATION_LIMITS")
        parsed_limits: dict[str, dict[str, float]] = {}
        for where, values in raw_limits.items():
            place = str(where)
            project, _, loc = place.rpartition("/")
            _check_location(loc, f"VBQ_LOCATION_LIMITS[{place!r}]")
            if project and not names.PROJECT_RE.fullmatch(project):
                raise ConfigError(f"VBQ_LOCATION_LIMITS[{place!r}]: malformed project")
            parsed_limits[place] = _limit_values(values, f"VBQ_LOCATION_LIMITS[{place!r}]")
        raw_models = _json_object(model_locations, "VBQ_MODEL_LOCATIONS")
        models: dict[str, tuple[str, ...]] = {}
        for model, where in raw_models.items():
            label = f"VBQ_MODEL_LOCATIONS[{model!r}]"
            if not isinstance(where, list) or not all(isinstance(x, str) for x in where):
                raise ConfigError(f"{label} must be a list of locations")
            for loc in where:
                _check_location(loc, label)
            models[str(model)] = tuple(where)
        return cls(locations=listed, limits=parsed_limits, model_locations=models)

    def limits_for(self, project: str, location: str) -> dict[str, float]:
        """The overrides of (project, location): the location's, then the place's on top."""
        merged = dict(self.limits.get(location, {}))
        merged.update(self.limits.get(f"{project}/{location}", {}))
        return merged

    def available_in(self, model_name: str) -> tuple[str, ...] | None:
        """Where ``model_name`` (as the spec names it) is available; None = anywhere."""
        for key in _model_keys(model_name):
            if key in self.model_locations:
                return self.model_locations[key]
        return None


_PLACES: dict[tuple[str, str, str], Places] = {}
_PLACE_SETTINGS: dict[tuple[int, str, str], tuple[Settings, Settings]] = {}


def places_of(settings: Settings) -> Places:
    """The :class:`Places` of ``settings`` (parsed once per distinct configuration).

    Raises:
        ConfigError: a place setting is malformed.
    """
    key = (settings.locations, settings.location_limits, settings.model_locations)
    found = _PLACES.get(key)
    if found is None:
        found = _PLACES[key] = Places.parse(locations=key[0], limits=key[1], model_locations=key[2])
    return found


def settings_for_place(settings: Settings, project: str, location: str) -> Settings:
    """``settings`` with the place's ``VBQ_LOCATION_LIMITS`` overrides applied (or itself).

    Raises:
        ConfigError: ``VBQ_LOCATION_LIMITS`` is malformed.
    """
    if not settings.location_limits:
        return settings
    key = (id(settings), project, location)
    cached = _PLACE_SETTINGS.get(key)
    if cached is not None and cached[0] is settings:
        return cached[1]
    overrides = places_of(settings).limits_for(project, location)
    typed = {k: int(v) if k in _INT_KEYS else float(v) for k, v in overrides.items()}
    placed = settings.replace(**typed) if typed else settings
    if len(_PLACE_SETTINGS) > 256:
        _PLACE_SETTINGS.clear()
    _PLACE_SETTINGS[key] = (settings, placed)
    return placed


def model_at(model: str, location: str) -> str:
    """``model`` for a job in ``location``: a publisher model's full resource name gets the
    place's location (Google serves the same publisher model in each region); other names
    (custom models pin their region, short publisher names carry none) are returned as is."""
    parsed = names.parse_model_name(model)
    if parsed is None or parsed.kind != "publisher" or parsed.location is None:
        return model
    head, _, tail = model.partition("/publishers/")
    project = head.split("/")[1]
    return f"projects/{project}/locations/{location}/publishers/{tail}"


def placed_spec(spec: JobSpec, location: str) -> JobSpec:
    """``spec`` as it runs in ``location``: its ``location`` set and a publisher model's
    resource name moved there (:func:`model_at`); the stored spec itself never changes."""
    return dataclasses.replace(
        spec, location=location, model_name=model_at(spec.model_name, location)
    )


def placement_problems(
    settings: Settings,
    *,
    locations: Sequence[str],
    model_name: str,
    spec_location: str | None,
    kms_key: str | None,
) -> list[dict[str, str]]:
    """Every broken rule of a submission's ``locations`` (field-naming, as in SpecError).

    Rules: a list of 1..16 distinct well-formed locations (``locations``, ``locations[i]``);
    listed in ``VBQ_LOCATIONS`` when that is set (``unknown``); not together with the spec's
    own ``location`` (``conflict``); the model available there per ``VBQ_MODEL_LOCATIONS``
    (``model_unavailable``); a custom model's or KMS key's region is the only one allowed
    (``model_location`` / ``kms_location``).
    """
    out: list[dict[str, str]] = []
    if len(locations) == 0 or len(locations) > MAX_LOCATIONS:
        return [_rule("locations", "length", f"must name 1..{MAX_LOCATIONS} locations")]
    if spec_location:
        out.append(_rule("locations", "conflict", "give either location or locations"))
    config = places_of(settings)
    available = config.available_in(model_name)
    parsed = names.parse_model_name(model_name)
    pinned = parsed.location if parsed is not None and parsed.kind == "model" else None
    key = names.KMS_KEY_RE.fullmatch(kms_key or "")
    seen: set[str] = set()
    for i, loc in enumerate(locations):
        where = f"locations[{i}]"
        if not isinstance(loc, str) or not names.LOCATION_RE.fullmatch(loc):
            out.append(_rule(where, "format", "must be a location such as 'us-central1'"))
            continue
        if loc in seen:
            out.append(_rule(where, "duplicate", f"{loc!r} is listed twice"))
        seen.add(loc)
        if config.locations and loc not in config.locations:
            known = ", ".join(config.locations)
            out.append(
                _rule(
                    where,
                    "unknown",
                    f"{loc!r} is not a place of this deployment (VBQ_LOCATIONS: {known})",
                )
            )
        if pinned is not None and loc != pinned:
            out.append(_rule(where, "model_location", f"the model is in {pinned!r}, not {loc!r}"))
        elif available is not None and loc not in available:
            out.append(
                _rule(
                    where,
                    "model_unavailable",
                    f"{model_name!r} is not available in {loc!r} (VBQ_MODEL_LOCATIONS)",
                )
            )
        if key and key["location"] != loc:
            out.append(_rule(where, "kms_location", f"the KMS key is in {key['location']!r}"))
    return out


def _model_keys(model_name: str) -> list[str]:
    keys = [model_name]
    if "/publishers/" in f"/{model_name}":
        short = "publishers/" + model_name.partition("publishers/")[2]
        keys.append(short)
        keys.append(short.rsplit("/", 1)[1].split("@", 1)[0])
    return keys


def _check_location(loc: str, where: str) -> None:
    if not names.LOCATION_RE.fullmatch(loc):
        raise ConfigError(f"{where}: {loc!r} is not a location such as 'us-central1'")


def _json_object(text: str, variable: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{variable} is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{variable} must be a JSON object")
    return raw


def _limit_values(values: Any, where: str) -> dict[str, float]:
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be an object of settings")
    unknown = sorted(set(values) - set(LIMIT_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown} (known: {list(LIMIT_KEYS)})")
    out: dict[str, float] = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}.{name} must be a number")
        minimum = 0.001 if name.endswith(("per_min", "interval_s")) else 0
        minimum = 1 if name == "max_in_flight" else minimum
        if value < minimum:
            raise ConfigError(f"{where}.{name} must be >= {minimum}")
        if name in _INT_KEYS and int(value) != value:
            raise ConfigError(f"{where}.{name} must be an integer")
        out[name] = float(value)
    return out


def _rule(field_name: str, rule: str, message: str) -> dict[str, str]:
    return {"field": field_name, "rule": rule, "message": message}
