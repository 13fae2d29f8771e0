"""The layering contracts (pyproject.toml [tool.importlinter], docs/architecture.md § Layering)
hold on this tree, and they do fail on a deliberate bad import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path, python_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(python_path)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _copy_tree(dest: Path) -> None:
    """The three root packages, symlinks resolved (as the wheel installs them)."""
    shutil.copytree(ROOT / "vbq", dest / "vbq", symlinks=False, ignore=_ignore)
    shutil.copytree(ROOT / "emulators" / "vbq_emulators", dest / "vbq_emulators", ignore=_ignore)
    shutil.copytree(ROOT / "demo" / "vbq_demo", dest / "vbq_demo", ignore=_ignore)
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")


def _ignore(_dir: str, names: list[str]) -> set[str]:
    return {n for n in names if n == "__pycache__"}


def test_contracts_hold_on_this_tree(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    done = _lint(tmp_path, tmp_path)
    assert done.returncode == 0, done.stdout[-4000:]
    assert "3 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "broken"),
    [
        # The core must not import a role ...
        ("vbq/store/keys.py", "import vbq.workers.sweeper", "vbq.store is not allowed to import"),
        # ... roles must not import each other (beyond the producers' public root) ...
        ("vbq/workers/retry.py", "import vbq.subscribers.inbox", "vbq.workers is not allowed"),
        ("vbq/subscribers/inbox.py", "import vbq.producers.client", "not allowed to import"),
        # ... nothing in vbq imports an extra, and the emulators import no role.
        ("vbq/settings/settings.py", "import vbq_emulators.errors", "vbq never imports its extras"),
        ("vbq_emulators/errors.py", "import vbq.workers.retry", "The emulators stand in"),
    ],
)
def test_a_deliberate_bad_import_breaks_a_contract(
    tmp_path: Path, module: str, bad_import: str, broken: str
) -> None:
    _copy_tree(tmp_path)
    path = tmp_path / module
    path.write_text(path.read_text() + f"\n{bad_import}  # deliberate layering violation\n")
    done = _lint(tmp_path, tmp_path)
    assert done.returncode != 0, done.stdout[-4000:]
    assert "BROKEN" in done.stdout
    assert broken in done.stdout, done.stdout[-4000:]
