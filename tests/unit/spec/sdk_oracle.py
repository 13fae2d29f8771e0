"""Run Google's SDK code path up to the network call and capture the request it would send.

``BatchPredictionJob.submit()`` builds the ``gca`` message in ``_submit_impl`` and hands it to
``_submit_and_optionally_wait_with_sync_support``, which sets ``model`` and calls the API. The
oracle replaces only that last step, then serializes the message as the REST transport does
(``MessageToJson(use_integers_for_enums=True)``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from google.auth.credentials import AnonymousCredentials
from google.cloud.aiplatform import jobs
from google.protobuf import json_format


@dataclass
class SdkRequest:
    project: str
    location: str
    api_version: str
    body: dict[str, Any]
    timeout_s: float | None


def sdk_request(**kwargs: Any) -> SdkRequest:
    """What ``BatchPredictionJob.submit(**kwargs)`` would POST (needs project and location)."""
    captured: dict[str, Any] = {}

    def capture(
        cls: Any,
        empty_batch_prediction_job: Any,
        model_or_model_name: Any,
        gca_batch_prediction_job: Any,
        generate_explanation: bool,
        sync: bool = True,
        create_request_timeout: float | None = None,
        wait_for_completion: bool = True,
    ) -> Any:
        model = (
            model_or_model_name
            if isinstance(model_or_model_name, str)
            else model_or_model_name.versioned_resource_name
        )
        gca_batch_prediction_job.model = model
        captured["job"] = gca_batch_prediction_job
        captured["client"] = empty_batch_prediction_job
        captured["timeout"] = create_request_timeout
        return empty_batch_prediction_job

    original = jobs.BatchPredictionJob.__dict__["_submit_and_optionally_wait_with_sync_support"]
    jobs.BatchPredictionJob._submit_and_optionally_wait_with_sync_support = classmethod(capture)
    try:
        jobs.BatchPredictionJob.submit(credentials=AnonymousCredentials(), **kwargs)
    finally:
        jobs.BatchPredictionJob._submit_and_optionally_wait_with_sync_support = original
    job = captured["job"]
    client = captured["client"]
    version = "v1beta1" if "v1beta1" in type(job).__module__ else "v1"
    body = json.loads(json_format.MessageToJson(type(job).pb(job), use_integers_for_enums=True))
    return SdkRequest(
        project=client.project,
        location=client.location,
        api_version=version,
        body=body,
        timeout_s=captured["timeout"],
    )
