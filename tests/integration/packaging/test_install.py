"""The installed distribution: one top-level package, extras beside it (issue "One house").

Builds and installs this checkout into a fresh virtualenv (pip's cache makes it quick): without
extras it holds only ``vbq`` among top-level imports and its CLI says which extra to install for
``vbq emulator``; with ``[emulators]`` the emulator runs.
"""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path

import pytest

from tests.support.services import REPO_ROOT

pytestmark = pytest.mark.integration


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False, **kwargs)  # type: ignore[call-overload]


def _top_level(python: Path) -> set[str]:
    """Names importable at top level that the installed distributions added."""
    code = (
        "import importlib.metadata as m, json\n"
        "names = set()\n"
        "for d in m.distributions():\n"
        "    if d.metadata['Name'].startswith('vertex-batch-queue'):\n"
        "        names |= set((d.read_text('top_level.txt') or '').split())\n"
        "print(json.dumps(sorted(names)))\n"
    )
    out = _run([str(python), "-c", code])
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout))


def test_install_adds_only_vbq_and_the_extra_adds_its_package(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    vbq = env_dir / "bin" / "vbq"
    site = next((env_dir / "lib").glob("python3*/site-packages"))

    done = _run([str(python), "-m", "pip", "install", "-q", str(REPO_ROOT)])
    assert done.returncode == 0, done.stderr[-3000:]
    assert _top_level(python) == {"vbq"}
    ours = {p.name for p in site.iterdir() if p.name.startswith(("vbq", "vertex_batch_queue"))}
    assert ours == {"vbq", "vertex_batch_queue-0.1.0.dist-info"}, ours
    for generic in ("producers", "workers", "subscribers", "vbq_emulators", "vbq_demo"):
        assert not (site / generic).exists(), generic

    imported = _run(
        [
            str(python),
            "-c",
            "from vbq import Client; import vbq.workers.tasks, vbq.subscribers;"
            "print(Client.__module__)",
        ],
        cwd=tmp_path,
    )
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert imported.stdout.strip() == "vbq.producers.client"
    # Package data: Google's message descriptors (vbq/spec/descriptors.binpb) build a body.
    resolved = _run(
        [
            str(python),
            "-c",
            "from vbq.spec import JobSpec; s = JobSpec.from_sdk_kwargs(model_name='m',"
            " gcs_source='gs://bkt/i.jsonl', gcs_destination_prefix='gs://bkt/o');"
            " r = s.resolve(default_project='my-project', default_location='us-central1');"
            " print(r.body['model'])",
        ],
        cwd=tmp_path,
    )
    assert resolved.returncode == 0, resolved.stderr[-2000:]
    assert resolved.stdout.strip() == "projects/my-project/locations/us-central1/models/m"
    for role in ("worker", "beat", "api", "subscribe"):
        helped = _run([str(vbq), role, "--help"], cwd=tmp_path)
        assert helped.returncode == 0, (role, helped.stderr[-2000:])

    missing = _run([str(vbq), "emulator", "vertex", "--port", "0"], cwd=tmp_path)
    assert missing.returncode == 2
    assert "pip install 'vertex-batch-queue[emulators]'" in missing.stderr
    demo = _run([str(vbq), "demo", "--jobs", "1"], cwd=tmp_path)
    assert demo.returncode == 2
    assert "pip install 'vertex-batch-queue[demo]'" in demo.stderr

    done = _run([str(python), "-m", "pip", "install", "-q", f"{REPO_ROOT}[emulators]"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert _top_level(python) == {"vbq", "vbq_emulators"}
    helped = _run([str(vbq), "emulator", "vertex", "--help"], cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr[-2000:]
    assert "--time-scale" in helped.stdout
