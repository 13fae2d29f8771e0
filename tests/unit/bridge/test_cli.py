"""``vbq bridge`` option checks that fail before anything connects."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from vbq.cli import cli

ENV = {"VBQ_PROJECT": "unit-proj", "PUBSUB_EMULATOR_HOST": "127.0.0.1:1"}


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["bridge", "--tenant", "Not Valid"], ENV, "--tenant"),
        (["bridge"], {"VBQ_PROJECT": ""}, "VBQ_PROJECT"),
        (["bridge", "--rules", "/nonexistent/rules.yaml"], ENV, "rules.yaml"),
        (["bridge", "--max-outstanding", "0"], ENV, "max-outstanding"),
        (
            ["bridge", "notify", "--bucket", "b", "--object", "o", "--metadata", "novalue"],
            ENV,
            "KEY=VALUE",
        ),
        (["bridge", "notify", "--object", "o"], ENV, "--bucket"),
    ],
)
def test_usage_errors(args: list[str], env: dict[str, str], needle: str) -> None:
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 2, result.output
    assert needle in result.output


def test_bad_rule_file_names_the_problem(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - bucket: b\n    job: {model_name: '{nope}'}\n")
    result = CliRunner().invoke(cli, ["bridge", "--rules", str(rules)], env=ENV)
    assert result.exit_code == 2
    assert "unknown variable 'nope'" in result.output


def test_help_lists_notify() -> None:
    result = CliRunner().invoke(cli, ["bridge", "--help"])
    assert result.exit_code == 0
    assert "notify" in result.output and "--max-backlog" in result.output
