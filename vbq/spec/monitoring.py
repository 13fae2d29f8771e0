"""Model monitoring for batch prediction (v1beta1 only), shaped as the SDK sends it.

``_submit_impl`` builds, when ``model_monitoring_objective_config`` is given::

    modelMonitoringConfig: {
        objectiveConfigs: [<objective>],
        alertConfig: <alert>,                      # when given
        analysisInstanceSchemaUri: <uri>,          # when given
    }

and switches the create call to the ``v1beta1`` endpoint. The SDK silently ignores an alert
config or schema URI without an objective config; vbq refuses that combination.
"""

from __future__ import annotations

from typing import Any

from vbq.spec.messages import message_dict
from vbq.spec.problems import Problems
from vbq.spec.uris import gcs_uri

__all__ = ["monitoring_body", "validate_monitoring"]

OBJECTIVE = "model_monitoring_objective_config"
ALERT = "model_monitoring_alert_config"
SCHEMA_URI = "analysis_instance_schema_uri"


def validate_monitoring(
    problems: Problems, raw: dict[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str | None]:
    """Check the three monitoring parameters in ``raw`` (SDK keyword names).

    Returns:
        (objective, alert, schema_uri) in canonical form; ``None`` where absent or invalid.
    """
    objective = alert = None
    schema_uri = None
    if raw.get(OBJECTIVE) is not None:
        objective = message_dict(
            problems,
            OBJECTIVE,
            raw[OBJECTIVE],
            message="ModelMonitoringObjectiveConfig",
            api_version="v1beta1",
        )
        if objective is None and not problems.has(OBJECTIVE):
            problems.add(OBJECTIVE, "empty", "must not be empty (omit it to disable monitoring)")
    if raw.get(ALERT) is not None:
        alert = message_dict(
            problems,
            ALERT,
            raw[ALERT],
            message="ModelMonitoringAlertConfig",
            api_version="v1beta1",
        )
    if raw.get(SCHEMA_URI) is not None:
        schema_uri = gcs_uri(problems, SCHEMA_URI, raw[SCHEMA_URI])
    for name in (ALERT, SCHEMA_URI):
        if raw.get(name) is not None and raw.get(OBJECTIVE) is None:
            problems.add(
                name, "requires", f"only allowed together with {OBJECTIVE} (the SDK would drop it)"
            )
    return objective, alert, schema_uri


def monitoring_body(
    objective: dict[str, Any], alert: dict[str, Any] | None, schema_uri: str | None
) -> dict[str, Any]:
    """The ``modelMonitoringConfig`` body part, as the SDK builds it."""
    body: dict[str, Any] = {"objectiveConfigs": [objective]}
    if alert:
        body["alertConfig"] = alert
    if schema_uri:
        body["analysisInstanceSchemaUri"] = schema_uri
    return body
