"""The retention task is registered with every worker and scheduled by beat."""

from __future__ import annotations

from vbq.cli.beat import beat_schedule
from vbq.settings import Settings
from vbq.workers.celery_app import _task_modules


def test_beat_sends_the_retention_task_to_the_maintenance_queue() -> None:
    entry = beat_schedule(Settings())["vbq-retention"]
    assert entry["task"] == "vbq.retention"
    assert entry["options"] == {"queue": "vbq.maintenance", "expires": 60.0}


def test_workers_import_the_retention_task_module() -> None:
    assert "vbq.workers.retention_tasks" in _task_modules()
    from vbq.workers.retention_tasks import TASK_RETENTION, retention

    assert retention.name == TASK_RETENTION == "vbq.retention"


def test_retention_settings_come_from_the_environment() -> None:
    s = Settings.from_env(
        {
            "VBQ_RETENTION_S": "0",
            "VBQ_ARCHIVE_PREFIX": "gs://b/arch/",
            "VBQ_ARCHIVE_INDEX_TTL_S": "3600",
            "VBQ_RETENTION_BATCH": "50",
        }
    )
    assert (s.retention_s, s.archive_prefix, s.archive_index_ttl_s, s.retention_batch) == (
        0,
        "gs://b/arch",
        3600,
        50,
    )
    assert Settings().retention_s == 7 * 24 * 3600


def test_an_archive_prefix_must_be_gs() -> None:
    import pytest

    from vbq.errors import ConfigError

    with pytest.raises(ConfigError, match="VBQ_ARCHIVE_PREFIX"):
        Settings.from_env({"VBQ_ARCHIVE_PREFIX": "s3://b/x"})
