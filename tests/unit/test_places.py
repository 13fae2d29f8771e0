"""The deployment's places (vbq.places): parsing, per-place limits, model availability, and the
field-naming checks of a submission's ``locations`` (through prepare_submission)."""

from __future__ import annotations

from typing import Any

import pytest

from vbq.errors import ConfigError, SpecError
from vbq.places import Places, model_at, places_of, settings_for_place
from vbq.producers.preparing import prepare_submission
from vbq.settings import Settings

GEMINI = "publishers/google/models/gemini-2.0-flash-001"
EU, US = "europe-west4", "us-central1"


def _settings(**env: str) -> Settings:
    return Settings.from_env({"VBQ_PROJECT": "proj-one", **env})


def _kwargs(**extra: Any) -> dict[str, Any]:
    return {
        "model_name": GEMINI,
        "gcs_source": "gs://bucket/in.jsonl",
        "gcs_destination_prefix": "gs://bucket/out",
        **extra,
    }


def _rules(settings: Settings, locations: object, **extra: Any) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        prepare_submission(
            settings,
            _kwargs(**extra),
            idempotency_key=None,
            tenant="t",
            metadata=None,
            locations=locations,
        )
    return [(e["field"], e["rule"]) for e in caught.value.errors]


def test_parse_reads_the_three_settings() -> None:
    places = Places.parse(
        locations=f"{US}, {EU}",
        limits='{"europe-west4": {"create_rate_per_min": 30, "max_in_flight": 5},'
        ' "proj-one/europe-west4": {"max_in_flight": 7}}',
        model_locations='{"gemini-2.0-flash-001": ["us-central1"]}',
    )
    assert places.locations == (US, EU)
    assert places.limits_for("proj-one", EU) == {"create_rate_per_min": 30.0, "max_in_flight": 7}
    assert places.limits_for("proj-two", EU) == {"create_rate_per_min": 30.0, "max_in_flight": 5}
    assert places.limits_for("proj-one", US) == {}
    assert places.available_in(GEMINI) == (US,)
    assert places.available_in(f"projects/proj-one/locations/{EU}/{GEMINI}") == (US,)
    assert places.available_in("publishers/google/models/other") is None


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"VBQ_LOCATIONS": "us-central1,Mars"}, "VBQ_LOCATIONS"),
        ({"VBQ_LOCATION_LIMITS": "{"}, "not JSON"),
        ({"VBQ_LOCATION_LIMITS": '{"us-central1": {"rate": 1}}'}, "unknown keys"),
        ({"VBQ_LOCATION_LIMITS": '{"us-central1": {"max_in_flight": 0}}'}, ">= 1"),
        ({"VBQ_LOCATION_LIMITS": '{"us-central1": {"create_burst": 1.5}}'}, "integer"),
        ({"VBQ_MODEL_LOCATIONS": '{"m": "us-central1"}'}, "list of locations"),
    ],
)
def test_malformed_settings_fail_at_startup_naming_the_variable(
    env: dict[str, str], needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        _settings(**env)


def test_settings_for_place_applies_the_overrides_only_there() -> None:
    settings = _settings(
        VBQ_CREATE_RATE_PER_MIN="600",
        VBQ_LOCATION_LIMITS='{"europe-west4": {"create_rate_per_min": 60, "create_burst": 2}}',
    )
    eu = settings_for_place(settings, "proj-one", EU)
    assert (eu.create_rate_per_min, eu.create_burst) == (60.0, 2)
    assert settings_for_place(settings, "proj-one", US) is settings
    assert settings_for_place(settings, "proj-one", EU) is eu  # cached
    plain = _settings()
    assert settings_for_place(plain, "proj-one", EU) is plain
    assert places_of(plain).locations == ()


def test_model_at_moves_only_a_publisher_model_named_with_a_region() -> None:
    assert model_at(f"projects/proj-one/locations/{US}/{GEMINI}", EU) == (
        f"projects/proj-one/locations/{EU}/{GEMINI}"
    )
    assert model_at(GEMINI, EU) == GEMINI
    custom = f"projects/proj-one/locations/{US}/models/123"
    assert model_at(custom, EU) == custom


def test_valid_locations_are_stored_on_the_submission() -> None:
    new = prepare_submission(
        _settings(VBQ_LOCATIONS=f"{US},{EU}"),
        _kwargs(),
        idempotency_key=None,
        tenant="t",
        metadata=None,
        locations=[EU, US],
    )
    assert new.locations == (EU, US)


def test_each_broken_rule_names_its_field() -> None:
    settings = _settings(
        VBQ_LOCATIONS=f"{US},{EU}",
        VBQ_MODEL_LOCATIONS='{"gemini-2.0-flash-001": ["us-central1"]}',
    )
    assert _rules(settings, [US, "asia-east1", EU, US]) == [
        ("locations[1]", "unknown"),
        ("locations[1]", "model_unavailable"),
        ("locations[2]", "model_unavailable"),
        ("locations[3]", "duplicate"),
    ]
    assert _rules(settings, "us-central1") == [("locations", "type")]
    assert _rules(settings, []) == [("locations", "length")]
    assert _rules(settings, ["Mars"]) == [("locations[0]", "format")]
    assert _rules(settings, [US], location=US) == [("locations", "conflict")]
    # Without locations, the model's availability is checked where the spec runs.
    assert _rules(settings, None, location=EU) == [("location", "model_unavailable")]


def test_a_custom_model_or_key_pins_its_region() -> None:
    settings = _settings()
    custom = f"projects/proj-one/locations/{US}/models/123"
    assert _rules(settings, [US, EU], model_name=custom) == [("locations[1]", "model_location")]
    key = f"projects/proj-one/locations/{US}/keyRings/r/cryptoKeys/k"
    assert _rules(settings, [US, EU], encryption_spec_key_name=key) == [
        ("locations[1]", "kms_location")
    ]
    # The first location is where the spec's own rules check it.
    assert _rules(settings, [EU], encryption_spec_key_name=key) == [
        ("encryption_spec_key_name", "location_mismatch")
    ]
