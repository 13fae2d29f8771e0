"""``vbq submit/status/list/cancel/watch`` and ``vbq api-key`` on a real Redis."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.integration.producers.conftest import (
    PROJECT,
    broker_messages,
    stored_ids,
    submitted_ids,
    valid_kwargs,
)
from vbq.cli import cli
from vbq.producers.api import ApiKeyRing

pytestmark = pytest.mark.integration

ID_LINE = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def runner(redis_url: str) -> CliRunner:
    return CliRunner(
        env={"VBQ_REDIS_URL": redis_url, "VBQ_BROKER_URL": redis_url, "VBQ_PROJECT": PROJECT}
    )


def ids_in(output: str) -> list[str]:
    return [line for line in output.splitlines() if ID_LINE.match(line)]


def test_submit_single_json_and_yaml(runner: CliRunner, tmp_path: Path, redis_url: str) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps(valid_kwargs(1)))
    two = tmp_path / "two.yaml"
    two.write_text(yaml.safe_dump(valid_kwargs(2)))
    result = runner.invoke(cli, ["submit", str(one), str(two), "--tenant", "team-a"])
    assert result.exit_code == 0, result.output
    ids = ids_in(result.stdout)
    assert len(ids) == 2
    assert stored_ids(redis_url) == set(ids)
    assert submitted_ids(redis_url) == ids


def test_submit_idempotency_key_and_stdin(runner: CliRunner, redis_url: str) -> None:
    text = json.dumps(valid_kwargs(3))
    first = runner.invoke(cli, ["submit", "-", "--idempotency-key", "k"], input=text)
    again = runner.invoke(cli, ["submit", "-", "--idempotency-key", "k"], input=text)
    assert first.exit_code == again.exit_code == 0, first.output + again.output
    assert ids_in(first.stdout) == ids_in(again.stdout)
    assert len(stored_ids(redis_url)) == 1


def test_submit_bulk_jsonl_reports_bad_items(
    runner: CliRunner, tmp_path: Path, redis_url: str
) -> None:
    lines = [json.dumps(valid_kwargs(i)) for i in range(30)]
    lines[4] = json.dumps({**valid_kwargs(4), "gcs_source": "ftp://x"})
    lines[9] = "{not json"
    path = tmp_path / "bulk.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(cli, ["submit", str(path), "--batch-size", "7"])
    assert result.exit_code == 1
    assert len(ids_in(result.stdout)) == 28
    assert len(stored_ids(redis_url)) == 28
    assert "item 4 refused" in result.stderr and "gcs_source" in result.stderr
    assert "item 9 refused" in result.stderr
    keyed = runner.invoke(cli, ["submit", str(path), "--idempotency-key", "k"])
    assert keyed.exit_code == 1 and "single request" in keyed.stderr
    atomic = runner.invoke(cli, ["submit", str(path), "--atomic", "--json"])
    assert atomic.exit_code == 1
    report = json.loads(atomic.stdout)
    assert [e["index"] for e in report["errors"]] == [4, 9]
    assert report["accepted"] == []


def test_submit_invalid_single_exits_1_naming_field(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**valid_kwargs(1), "machine_type": 3}))
    result = runner.invoke(cli, ["submit", str(path)])
    assert result.exit_code == 1
    assert "machine_type" in result.stderr
    missing = runner.invoke(cli, ["submit", str(tmp_path / "nope.json")])
    assert missing.exit_code == 1 and "cannot read" in missing.stderr


def test_status_list_cancel_watch(runner: CliRunner, tmp_path: Path, redis_url: str) -> None:
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps([valid_kwargs(i) for i in range(3)]))
    ids = ids_in(runner.invoke(cli, ["submit", str(path), "--tenant", "tx"]).stdout)
    assert len(ids) == 3

    status = runner.invoke(cli, ["status", ids[0], "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["submission_id"] == ids[0]
    human = runner.invoke(cli, ["status", ids[0]])
    assert "ACCEPTED" in human.stdout and "job-0" in human.stdout
    assert runner.invoke(cli, ["status", "0" * 32]).exit_code == 1

    listed = runner.invoke(cli, ["list", "--tenant", "tx", "--limit", "2"])
    assert listed.exit_code == 0, listed.output
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ids[::-1][:2]
    assert runner.invoke(cli, ["list", "--state", "RUNNING"]).stdout == ""
    assert runner.invoke(cli, ["list", "--state", "bogus"]).exit_code == 2
    labelled = runner.invoke(cli, ["list", "--label", "n=1", "--json"])
    assert [json.loads(x)["submission_id"] for x in labelled.stdout.splitlines()] == [ids[1]]

    cancelled = runner.invoke(cli, ["cancel", ids[2]])
    assert cancelled.exit_code == 0, cancelled.output
    assert [m["args"] for m in broker_messages(redis_url, "vbq.cancel")] == [[ids[2]]]

    watched = runner.invoke(cli, ["watch", "--once", "--recent", "2"])
    assert watched.exit_code == 0, watched.output
    assert "ACCEPTED" in watched.stdout and "3" in watched.stdout
    assert ids[2] in watched.stdout


def test_api_key_create_appends_a_usable_line(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    result = CliRunner().invoke(
        cli, ["api-key", "create", "--tenant", "team-z", "--append", str(keys)]
    )
    assert result.exit_code == 0, result.output
    key = re.search(r"vbq_[A-Za-z0-9]{32}", result.stdout)
    assert key is not None
    assert key.group(0) not in keys.read_text()  # only the hash is stored
    assert ApiKeyRing.from_file(keys).tenant_for(key.group(0)) == "team-z"
    bad = CliRunner().invoke(cli, ["api-key", "create", "--tenant", "Team Z"])
    assert bad.exit_code == 2
    admin = CliRunner().invoke(cli, ["api-key", "create", "--admin", "--append", str(keys)])
    assert admin.exit_code == 0, admin.output
    admin_key = re.search(r"vbq_[A-Za-z0-9]{32}", admin.stdout)
    assert admin_key is not None
    assert ApiKeyRing.from_file(keys).tenant_for(admin_key.group(0)) == "*"
    both = CliRunner().invoke(cli, ["api-key", "create", "--admin", "--tenant", "t"])
    neither = CliRunner().invoke(cli, ["api-key", "create"])
    assert both.exit_code == neither.exit_code == 2
