"""Notification rules: globs, first match, rendering, load-time checks, the example file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vbq.errors import ConfigError, SpecError
from vbq.producers.bridge import ObjectEvent, RuleSet, glob_regex, notification_idempotency_key
from vbq.producers.bridge.requests import MAX_KEY_CHARS
from vbq.spec import JobSpec

REPO = Path(__file__).resolve().parents[3]
MODEL = "publishers/google/models/gemini-2.0-flash-001"


def _event(name: str, bucket: str = "bkt", generation: str = "7", **meta: str) -> ObjectEvent:
    return ObjectEvent(
        event_type="OBJECT_FINALIZE",
        bucket=bucket,
        name=name,
        generation=generation,
        resource={"metadata": meta} if meta else {},
    )


def _rules(**overrides: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "name": "r",
        "bucket": "bkt",
        "object": "incoming/**/*.jsonl",
        "job": {
            "model_name": MODEL,
            "gcs_source": "gs://{bucket}/{name}",
            "gcs_destination_prefix": "gs://{bucket}/out/{stem}",
        },
    }
    rule.update(overrides)
    return {"rules": [rule]}


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("incoming/**/*.jsonl", "incoming/a.jsonl", True),
        ("incoming/**/*.jsonl", "incoming/x/y/a.jsonl", True),
        ("incoming/**/*.jsonl", "incoming/a.csv", False),
        ("incoming/**/*.jsonl", "incomingx/a.jsonl", False),
        ("incoming/**/*.jsonl", "other/incoming/a.jsonl", False),
        ("incoming/*.jsonl", "incoming/x/a.jsonl", False),
        ("incoming/*.jsonl", "incoming/a.jsonl", True),
        ("data-?.json", "data-1.json", True),
        ("data-?.json", "data-12.json", False),
        ("a.b", "axb", False),  # dots are literal
        ("**", "anything/at/all", True),
        ("*", "a/b", False),
    ],
)
def test_globs(pattern: str, name: str, matches: bool) -> None:
    assert bool(glob_regex(pattern).match(name)) is matches


def test_render_and_first_match_wins() -> None:
    data = _rules(labels=None)
    data["rules"][0]["job"]["labels"] = {"team": "{metadata.team|default:none}", "dir": "{path[1]}"}
    data["rules"].append(
        {
            **data["rules"][0],
            "name": "catch-all",
            "object": "**",
            "tenant": "t2",
            "priority": "bulk",
        }
    )
    rules = RuleSet.from_dict(
        {"rules": [{k: v for k, v in r.items() if k != "labels"} for r in data["rules"]]}
    )
    first = rules.match(_event("incoming/Q3 Team/a.jsonl", team="ML Ops"))
    assert first is not None and first.name == "r"
    req = first.render(_event("incoming/Q3 Team/a.jsonl", team="ML Ops"))
    assert req.sdk_kwargs["labels"] == {"team": "ml-ops", "dir": "q3-team"}
    assert req.idempotency_key == "gcs:bkt/incoming/Q3 Team/a.jsonl#7"
    assert req.tenant == "default" and req.priority == "default"
    assert req.metadata == {
        "gcs": {
            "rule": "r",
            "bucket": "bkt",
            "object": "incoming/Q3 Team/a.jsonl",
            "generation": "7",
        }
    }
    other = rules.match(_event("elsewhere/a.csv"))
    assert other is not None and other.name == "catch-all" and other.tenant == "t2"
    assert other.render(_event("elsewhere/a.csv")).as_item()["priority"] == "bulk"
    assert rules.match(_event("incoming/a.jsonl", bucket="nope")) is None


def test_generation_is_in_the_key() -> None:
    a = notification_idempotency_key("b", "o.jsonl", "1")
    b = notification_idempotency_key("b", "o.jsonl", "2")
    assert a != b and a == notification_idempotency_key("b", "o.jsonl", "1")
    long = notification_idempotency_key("b", "x" * 1024, "99")
    assert len(long) <= MAX_KEY_CHARS and long.endswith("#99") and long.startswith("gcs:sha256:")


def test_missing_template_value_is_a_spec_error() -> None:
    data = _rules()
    data["rules"][0]["job"]["labels"] = {"batch": "{metadata.batch}"}
    rule = RuleSet.from_dict(data).rules[0]
    with pytest.raises(SpecError) as info:
        rule.render(_event("incoming/a.jsonl"))
    assert info.value.fields == ["labels.batch"]


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({}, "rules"),
        ({"rules": []}, "rules"),
        ({"rules": [{"bucket": "b"}]}, "job"),
        ({"rules": [{"job": {"model_name": MODEL}}]}, "bucket"),
        ({"rules": [{"bucket": "b", "job": {"model_name": MODEL}, "extra": 1}]}, "unknown keys"),
        (
            {"rules": [{"bucket": "b", "priority": "asap", "job": {"model_name": MODEL}}]},
            "priority",
        ),
        (
            {"rules": [{"bucket": "b", "tenant": "Bad Tenant", "job": {"model_name": MODEL}}]},
            "tenant",
        ),
        (
            {"rules": [{"bucket": "b", "job": {"model_name": MODEL, "labels": {"Bad": "x"}}}]},
            "label key",
        ),
        (
            {"rules": [{"bucket": "b", "job": {"model_name": MODEL, "labels": {"vbq-x": "x"}}}]},
            "reserved",
        ),
        ({"rules": [{"bucket": "b", "job": {"model_name": "{nope}"}}]}, "unknown variable"),
        (
            {"rules": [{"bucket": "b", "job": {"model_name": MODEL, "modle_name": "x"}}]},
            "modle_name",
        ),
        ({"rules": [{"bucket": "b", "job": {"model_name": MODEL, "sync": True}}]}, "sync"),
        ({"rules": [{"name": "a", "bucket": "b", "job": {"model_name": MODEL}}] * 2}, "unique"),
        (
            {"rules": [{"bucket": "b", "job": {"model_name": MODEL}}], "notifications": {"x": 1}},
            "notifications",
        ),
        ({"rules": [{"bucket": "b", "job": {"model_name": MODEL}}], "other": 1}, "unknown keys"),
    ],
)
def test_bad_rule_files_are_refused(data: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        RuleSet.from_dict(data)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        RuleSet.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [unclosed")
    with pytest.raises(ConfigError):
        RuleSet.load(bad)


def test_example_rules_file_makes_valid_gemini_jobs() -> None:
    rules = RuleSet.load(REPO / "examples" / "bridge-rules.yaml")
    assert rules.topic == "vbq-gcs-notifications"
    event = _event("incoming/2024/05/sales.jsonl", bucket="acme-data", team="Data Science")
    rule = rules.match(event)
    assert rule is not None
    req = rule.render(event)
    spec = JobSpec.from_sdk_kwargs(**req.sdk_kwargs)  # passes every spec rule
    assert "gemini" in req.sdk_kwargs["model_name"]
    assert req.sdk_kwargs["gcs_source"] == "gs://acme-data/incoming/2024/05/sales.jsonl"
    assert spec.to_dict()["labels"]["team"] == "data-science"
    assert rules.match(_event("incoming/2024/sales.csv", bucket="acme-data")) is None
    assert rules.match(_event("outgoing/sales.jsonl", bucket="acme-data")) is None
