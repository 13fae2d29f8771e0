"""The README's CLI reference stays true: every command and option it names exists."""

from __future__ import annotations

import re

import click

from tests.support.services import REPO_ROOT
from vbq.cli import cli


def reference_rows() -> list[tuple[str, str]]:
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## CLI reference", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        found = re.match(r"\| `vbq ([a-z -]+?)(?: [A-Z.]+)*` \|[^|]*\|(.*)\|\s*$", line)
        if found:
            rows.append((found.group(1).strip(), found.group(2)))
    return rows


def command(path: str) -> click.Command:
    cmd: click.Command = cli
    for part in path.split():
        assert isinstance(cmd, click.Group), f"vbq {path}: {part} has no subcommands"
        sub = cmd.commands.get(part)
        assert sub is not None, f"the README names `vbq {path}`, which does not exist"
        cmd = sub
    return cmd


def test_every_documented_command_and_option_exists() -> None:
    rows = reference_rows()
    assert len(rows) >= 15
    for path, options_cell in rows:
        cmd = command(path)
        known = {opt for p in cmd.params for opt in (*p.opts, *p.secondary_opts)}
        for option in re.findall(r"`(-{1,2}[a-z][a-z0-9-]*)", options_cell):
            assert option in known, f"`vbq {path}` has no option {option}"
        for both in re.findall(r"`(-[a-zA-Z])/(--[a-z-]+)", options_cell):
            assert set(both) <= known, f"`vbq {path}` lacks {both}"
