"""``vbq subscribe --actions``: option checks that fail before anything connects."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from vbq.cli.subscribe import subscribe


def test_handler_or_actions_is_required() -> None:
    result = CliRunner().invoke(subscribe, [])
    assert result.exit_code == 2
    assert "--handler and/or --actions" in result.output


def test_invalid_actions_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "actions.yaml"
    path.write_text('- {"on": "*", "action": "summary", "colour": "red"}\n')
    result = CliRunner().invoke(subscribe, ["--actions", str(path)])
    assert result.exit_code == 1
    assert "unknown key(s) colour" in result.output
