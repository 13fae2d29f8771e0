"""Actions configuration files: parsing, validation, chain templates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vbq.errors import ConfigError
from vbq.events import JobEvent
from vbq.subscribers.actions import Chain, Summary, Webhook, load_actions, parse_actions

YAML = """
actions:
  - name: notify
    on: [job.succeeded, job.failed]
    action: webhook
    url: http://127.0.0.1:9/hook
    secret_env: TEST_HOOK_SECRET
    timeout_s: 2
    budget_s: 3
  - "on": "*"
    action: summary
    path: {path}
    read_rows: true
  - on: job.succeeded
    action: chain
    stage: stage2
    submit:
      model_name: publishers/google/models/gemini-2.0-flash-001
      gcs_source: "{{gcs_output_directory}}/predictions_*.jsonl"
      instances_format: jsonl
      gcs_destination_prefix: gs://b/stage2/{{submission_id}}
      job_display_name: "after {{display_name}} {{untouched}}"
"""


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", "s")


def test_yaml_file_with_bare_on_keys(tmp_path: Path) -> None:
    path = tmp_path / "actions.yaml"
    path.write_text(YAML.format(path=tmp_path / "s.jsonl"))
    regs = load_actions(path).registrations
    assert [r.name for r in regs] == [
        "vbq.subscribers.actions:notify",
        "vbq.subscribers.actions:summary-2",
        "vbq.subscribers.actions:chain-3",
    ]
    assert regs[0].types == {"job.succeeded", "job.failed"}
    assert regs[1].types == {"*"} and regs[2].types == {"job.succeeded"}
    hook, summary, chain = (r.func for r in regs)
    assert isinstance(hook, Webhook) and hook.timeout_s == 2 and hook.budget_s == 3
    assert isinstance(summary, Summary) and summary.read_rows
    assert isinstance(chain, Chain) and chain.stage == "stage2"
    event = JobEvent.create(
        type="job.succeeded",
        submission_id="d" * 32,
        state="SUCCEEDED",
        previous_state="RUNNING",
        job={
            "state": "JOB_STATE_SUCCEEDED",
            "displayName": "first",
            "outputInfo": {"gcsOutputDirectory": "gs://b/out/prediction-x"},
        },
    )
    assert chain.build(event) == {
        "model_name": "publishers/google/models/gemini-2.0-flash-001",
        "gcs_source": "gs://b/out/prediction-x/predictions_*.jsonl",
        "instances_format": "jsonl",
        "gcs_destination_prefix": f"gs://b/stage2/{'d' * 32}",
        "job_display_name": "after first {untouched}",
    }


def test_json_file_top_level_list(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"on": ["job.failed"], "action": "summary"}]))
    (reg,) = load_actions(path).registrations
    assert reg.types == {"job.failed"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "non-empty list"),
        ({"other": 1}, "non-empty list"),
        (["x"], "expected a mapping"),
        ([{"action": "summary"}], "'on'"),
        ([{"on": "job.nope", "action": "summary"}], "unknown event type"),
        ([{"on": "*", "action": "email"}], "action must be one of"),
        ([{"on": "*", "action": "summary", "pth": "x"}], "unknown key"),
        ([{"on": "*", "action": "webhook", "url": "http://h/x"}], "needs url and secret_env"),
        ([{"on": "*", "action": "webhook", "url": "http://h/x", "secret_env": "NOPE_X"}], "NOPE_X"),
        ([{"on": "*", "action": "chain", "stage": "s"}], "chain needs submit"),
        ([{"on": "*", "action": "chain", "stage": "bad stage", "submit": {"a": 1}}], "stage"),
        ([{"on": "*", "action": "summary", "name": "a b"}], "name"),
        ([{"on": "*", "action": "summary", "name": "x"}] * 2, "duplicate name"),
        ([{"on": "*", "action": "webhook", "url": "h", "secret_env": "TEST_HOOK_SECRET"}], "url"),
    ],
)
def test_invalid_configurations_name_the_problem(raw: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_actions(raw)


def test_unreadable_or_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load_actions(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("actions: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_actions(bad)
