"""The demo's process supervisor: own process groups, whole-group stop, loud start failures."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from vbq_demo.supervisor import Supervisor, free_port

from tests.support.services import REPO_ROOT
from vbq.errors import ConfigError

pytestmark = pytest.mark.integration

PY = sys.executable


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pid: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def read_int(path: Path, timeout_s: float = 10.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = path.read_text().strip() if path.exists() else ""
        if text.isdigit():
            return int(text)
        time.sleep(0.05)
    raise AssertionError(f"{path} never held a pid")


@pytest.fixture
def sup(tmp_path: Path) -> Supervisor:
    return Supervisor(log_dir=tmp_path / "logs", env=dict(os.environ), pids_file=tmp_path / "pids")


def test_children_get_their_own_group_a_log_and_a_pids_line(
    sup: Supervisor, tmp_path: Path
) -> None:
    child = sup.start(
        "sleeper", [PY, "-c", "import time; print('hello', flush=True); time.sleep(60)"]
    )
    try:
        assert child.alive()
        assert os.getpgid(child.pid) == child.pid != os.getpgid(0)
        deadline = time.monotonic() + 10
        while "hello" not in child.log_tail():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert (tmp_path / "pids").read_text() == f"sleeper {child.pid}\n"
    finally:
        codes = sup.stop_all(timeout_s=5)
    assert codes == {"sleeper": -15}
    assert not child.alive()
    assert (tmp_path / "pids").read_text() == ""


def test_stop_kills_a_group_that_ignores_sigterm_including_grandchildren(
    sup: Supervisor, tmp_path: Path
) -> None:
    grandchild_pid = tmp_path / "grandchild.pid"
    script = textwrap.dedent(
        f"""
        import signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        g = subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
        open({str(grandchild_pid)!r}, "w").write(str(g.pid))
        time.sleep(60)
        """
    )
    child = sup.start("stubborn", [PY, "-c", script], service=True)
    grandchild = read_int(grandchild_pid)
    assert running(grandchild)
    t0 = time.monotonic()
    codes = sup.stop_all(timeout_s=0.5)
    assert time.monotonic() - t0 < 8
    assert codes == {"stubborn": -9}
    assert not child.alive()
    assert wait_gone(grandchild), "the grandchild outlived the stop"


def test_a_child_that_exits_while_starting_fails_loudly_with_its_log(sup: Supervisor) -> None:
    with pytest.raises(ConfigError, match=r"(?s)crash exited with 3 while starting.*boom"):
        sup.start(
            "crash",
            [PY, "-c", "print('boom', flush=True); raise SystemExit(3)"],
            port=free_port(),
        )
    sup.stop_all()


def test_a_child_that_never_listens_times_out(sup: Supervisor) -> None:
    with pytest.raises(ConfigError, match="mute was not ready within 1s"):
        sup.start("mute", [PY, "-c", "import time; time.sleep(30)"], port=free_port(), timeout_s=1)
    sup.stop_all(timeout_s=2)
    assert not sup.children


def test_children_die_with_the_supervising_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from vbq_demo.supervisor import Supervisor
        sup = Supervisor(log_dir=Path({str(tmp_path)!r}), env=dict(os.environ))
        child = sup.start("orphan", [sys.executable, "-c", "import time; time.sleep(60)"])
        Path({str(pid_file)!r}).write_text(str(child.pid))
        os._exit(0)  # no clean-up at all, as after a SIGKILL
        """
    )
    subprocess.run([PY, "-c", script], cwd=REPO_ROOT, check=True, timeout=30)
    orphan = read_int(pid_file)
    try:
        assert wait_gone(orphan), "the child outlived its supervisor"
    finally:
        if running(orphan):
            os.kill(orphan, 9)
