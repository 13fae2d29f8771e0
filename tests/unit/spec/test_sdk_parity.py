"""Every valid spec resolves to exactly the request Google's SDK would send."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.spec import sdk_oracle
from tests.unit.spec.cases import LOCATION, PROJECT, VALID_CASES, clean
from vbq.spec import JobSpec


def _sdk_kwargs(kwargs: dict[str, Any], location: str) -> dict[str, Any]:
    result = dict(kwargs)
    # The SDK wraps anything but a list in a list, so a tuple would break it: vbq accepts both.
    if isinstance(result.get("gcs_source"), tuple):
        result["gcs_source"] = list(result["gcs_source"])
    result.setdefault("project", PROJECT)
    result.setdefault("location", location)
    return result


@pytest.mark.parametrize("case", sorted(VALID_CASES))
def test_body_matches_sdk(case: str) -> None:
    ours = JobSpec.from_sdk_kwargs(**clean(VALID_CASES[case]())).resolve(
        default_project=PROJECT, default_location=LOCATION
    )
    theirs = sdk_oracle.sdk_request(**_sdk_kwargs(clean(VALID_CASES[case]()), ours.location))
    body = dict(ours.body)
    if "job_display_name" not in VALID_CASES[case]():
        # The SDK names unnamed jobs after the local time; vbq uses the fingerprint instead.
        assert body.pop("displayName").startswith("BatchPredictionJob ")
        assert theirs.body.pop("displayName").startswith("BatchPredictionJob ")
    assert body == theirs.body
    assert ours.api_version == theirs.api_version
    assert (ours.project, ours.location) == (theirs.project, theirs.location)
    assert ours.parent == f"projects/{theirs.project}/locations/{theirs.location}"
    assert ours.timeout_s == theirs.timeout_s
    assert ours.model == theirs.body["model"]
