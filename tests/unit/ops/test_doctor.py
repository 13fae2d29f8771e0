"""`vbq doctor` against nothing: every failure is named, nothing secret is printed, exit 1."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from tests.support.services import free_port
from vbq.cli import cli
from vbq.cli.doctor import run_checks


def _dead_env(**extra: str) -> dict[str, str]:
    dead = free_port()
    return {
        "VBQ_PROJECT": "p",
        "VBQ_REDIS_URL": f"redis://:hunter2secret@127.0.0.1:{dead}/0",
        "VBQ_VERTEX_ENDPOINT": f"http://127.0.0.1:{dead}",
        "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{dead}",
        **extra,
    }


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("VBQ_") or key.endswith("_EMULATOR_HOST"):
            monkeypatch.delenv(key)


def test_malformed_setting_is_the_only_failure_reported() -> None:
    results = run_checks({"VBQ_PROJECT": "p", "VBQ_CREATE_BURST": "many"})
    assert [(r.name, r.status) for r in results] == [("config", "FAIL")]
    assert "VBQ_CREATE_BURST" in results[0].detail


def test_missing_project_fails_config() -> None:
    results = run_checks({})
    assert results[0].status == "FAIL" and "VBQ_PROJECT" in results[0].detail


def test_unreachable_services_each_fail_and_a_typo_warns() -> None:
    results = run_checks(_dead_env(VBQ_CREATE_RATE_PER_MINUTE="5"), timeout_s=0.5)
    by_name = {r.name: r for r in results}
    assert by_name["config"].status == "WARN"
    assert "VBQ_CREATE_RATE_PER_MINUTE" in by_name["config"].detail
    assert by_name["credentials"].detail == "anonymous (emulators)"
    for name in ("redis", "broker", "vertex", "pubsub topic", "pubsub subscription"):
        assert by_name[name].status == "FAIL", by_name[name]


def test_cli_prints_one_table_exits_1_and_never_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in _dead_env().items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(cli, ["doctor", "--timeout-s", "0.5"])
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.output and "redis" in result.output
    assert "hunter2secret" not in result.output
