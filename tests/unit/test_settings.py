from __future__ import annotations

import pytest

from vbq.errors import ConfigError
from vbq.settings import Settings


def test_defaults_follow_the_architecture() -> None:
    s = Settings.from_env({})
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.broker_url == s.redis_url
    assert s.create_rate_per_min == 60.0
    assert s.read_rate_per_min == 600.0
    assert s.vertex_base_url("europe-west4") == "https://europe-west4-aiplatform.googleapis.com"
    assert s.vertex_base_url("global") == "https://aiplatform.googleapis.com"
    assert not s.uses_vertex_emulator


def test_environment_is_read_once_into_a_frozen_object() -> None:
    env = {
        "VBQ_REDIS_URL": "redis://:hunter2@10.0.0.1:6380/2",
        "VBQ_PROJECT": "p1",
        "VBQ_LOCATION": "europe-west4",
        "VBQ_VERTEX_ENDPOINT": "http://127.0.0.1:9999/",
        "VBQ_EVENT_TYPES": "job.succeeded, job.failed",
        "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085",
        "VBQ_TYPO_SETTING": "x",
    }
    s = Settings.from_env(env)
    assert s.broker_url == env["VBQ_REDIS_URL"]
    assert s.vertex_base_url() == "http://127.0.0.1:9999"
    assert s.uses_vertex_emulator
    assert s.event_types == ("job.succeeded", "job.failed")
    assert s.events_topic_path() == "projects/p1/topics/vbq-job-events"
    assert s.extra == {"VBQ_TYPO_SETTING": "x"}
    assert "hunter2" not in str(s.redacted())
    with pytest.raises(AttributeError):
        s.project = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VBQ_MAX_IN_FLIGHT", "ten"),
        ("VBQ_MAX_IN_FLIGHT", "0"),
        ("VBQ_POLL_INTERVAL_S", "-1"),
        ("VBQ_LOG_FORMAT", "xml"),
        ("VBQ_RATE_LIMIT_MARGIN_S", "nan"),
        ("VBQ_RATE_LIMIT_MARGIN_S", "inf"),
        ("VBQ_RATE_LIMIT_MARGIN_S", "-0.1"),
        ("VBQ_CREATE_RATE_PER_MIN", "inf"),
    ],
)
def test_malformed_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})
