"""Property: only SpecError escapes from_dict/from_json/from_sdk_kwargs, whatever comes in."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.spec.cases import LOCATION, PROJECT, VALID_CASES, clean
from vbq.errors import SpecError
from vbq.spec import SDK_PARAMETERS, JobSpec


class Junk:
    pass


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.binary(max_size=10),
    st.just(Junk()),
    st.sampled_from(["gs://in-bucket/x", "bq://my-project.d.t", "456", "jsonl", "NVIDIA_TESLA_T4"]),
)
json_like = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4),
        st.frozensets(st.integers(), max_size=3),
    ),
    max_leaves=6,
)
keys = st.one_of(st.sampled_from(SDK_PARAMETERS), st.text(max_size=12))
specs = st.dictionaries(keys, json_like, max_size=12)


def _check(call: Any) -> None:
    try:
        spec = call()
    except SpecError as err:
        assert err.errors
        assert all(e["rule"] != "internal" for e in err.errors), err.errors
        assert all(isinstance(f, str) and f for f in err.fields)
        return
    # Anything accepted must round-trip and resolve to a body without further surprises.
    assert JobSpec.from_json(spec.to_json()) == spec
    try:
        spec.resolve(default_project=PROJECT, default_location=LOCATION)
    except SpecError:
        pass


# The default run stays fast on a shared 2-core machine; `-m slow` runs the long version.
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LONG = settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))


@FAST
@given(specs)
def test_from_dict_only_raises_spec_error(data: dict[Any, Any]) -> None:
    _check(lambda: JobSpec.from_dict(data))


@pytest.mark.slow
@pytest.mark.timeout(900)
@LONG
@given(specs)
def test_from_dict_only_raises_spec_error_long(data: dict[Any, Any]) -> None:
    _check(lambda: JobSpec.from_dict(data))


@FAST
@given(json_like)
def test_from_dict_of_anything(data: Any) -> None:
    _check(lambda: JobSpec.from_dict(data))


@FAST
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200), json_like))
def test_from_json_of_anything(text: Any) -> None:
    _check(lambda: JobSpec.from_json(text))


near_valid = st.fixed_dictionaries(
    {
        "model_name": st.one_of(st.just("456"), json_like),
        "gcs_source": st.one_of(st.just("gs://in-bucket/x"), json_like),
        "gcs_destination_prefix": st.one_of(st.just("gs://out-bucket/y"), json_like),
    },
    optional={
        name: json_like
        for name in SDK_PARAMETERS
        if name not in {"model_name", "gcs_source", "gcs_destination_prefix"}
    },
)


@FAST
@given(near_valid)
def test_near_valid_kwargs_only_raise_spec_error(kwargs: dict[str, Any]) -> None:
    _check(lambda: JobSpec.from_sdk_kwargs(**kwargs))


@pytest.mark.slow
@pytest.mark.timeout(900)
@LONG
@given(near_valid)
def test_near_valid_kwargs_only_raise_spec_error_long(kwargs: dict[str, Any]) -> None:
    _check(lambda: JobSpec.from_sdk_kwargs(**kwargs))


def test_json_with_nan_literal_is_refused() -> None:
    text = json.dumps({"model_name": "456", "model_parameters": {"t": math.nan}})
    try:
        JobSpec.from_json(text)
    except SpecError as err:
        assert err.fields == ["spec"]
    else:
        raise AssertionError("NaN accepted")


def test_deeply_nested_json_is_refused() -> None:
    text = '{"model_parameters":' + "[" * 100_000 + "]" * 100_000 + "}"
    try:
        JobSpec.from_json(text)
    except SpecError as err:
        assert err.fields
    else:
        raise AssertionError("accepted")


@FAST
@given(
    st.sampled_from(sorted(VALID_CASES)),
    st.sampled_from(SDK_PARAMETERS),
    json_like,
)
def test_one_junk_parameter_in_a_valid_spec(case: str, name: str, junk: Any) -> None:
    kwargs = clean(VALID_CASES[case]())
    kwargs[name] = junk
    _check(lambda: JobSpec.from_sdk_kwargs(**kwargs))
