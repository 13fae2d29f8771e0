"""No unsafe deserialization or dynamic code anywhere in the shipped packages.

The scan reads the syntax tree (not the text), so a docstring that *explains* why pickle is
not used does not trip it, while ``import pickle`` anywhere, ``yaml.load`` without a safe
loader, ``marshal.loads``, or a bare ``eval``/``exec`` call does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import kombu.serialization
import pytest
from kombu.exceptions import ContentDisallowed

from vbq.settings import Settings
from vbq.workers.celery_app import celery_config, create_app

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("vbq", "producers", "workers", "subscribers", "emulators", "demo")
BANNED_MODULES = {"pickle", "cPickle", "_pickle", "shelve", "dill", "cloudpickle", "marshal"}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader"}


def _sources() -> list[Path]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    assert len(files) > 50, "the scan found too few files: wrong root?"
    return files


def findings(source: str, name: str = "<string>") -> list[str]:
    """Unsafe constructs in ``source``, as ``file:line what`` strings."""
    out: list[str] = []
    for node in ast.walk(ast.parse(source)):
        where = f"{name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            out += [f"{where} import {a.name}" for a in node.names if _banned(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and _banned(node.module):
            out.append(f"{where} from {node.module} import ...")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in {"eval", "exec"}:
                out.append(f"{where} {func.id}()")
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                dotted = f"{func.value.id}.{func.attr}"
                if dotted in {"yaml.unsafe_load", "yaml.full_load", "yaml.load_all"}:
                    out.append(f"{where} {dotted}()")
                elif dotted == "yaml.load" and not _safe_loader(node):
                    out.append(f"{where} yaml.load() without SafeLoader")
                elif dotted in {"marshal.loads", "pickle.loads", "pickle.load"}:
                    out.append(f"{where} {dotted}()")
    return out


def _banned(module: str) -> bool:
    return module.split(".", maxsplit=1)[0] in BANNED_MODULES


def _safe_loader(call: ast.Call) -> bool:
    loaders = [kw.value for kw in call.keywords if kw.arg == "Loader"] + call.args[1:2]
    for value in loaders:
        name = value.attr if isinstance(value, ast.Attribute) else getattr(value, "id", "")
        if name in SAFE_YAML_LOADERS:
            return True
    return False


def test_the_scanner_catches_each_unsafe_construct() -> None:
    bad = {
        "import pickle": "import pickle",
        "import shelve as s": "import shelve",
        "from dill import loads": "from dill",
        "import yaml\nyaml.load(x)": "without SafeLoader",
        "import yaml\nyaml.unsafe_load(x)": "yaml.unsafe_load",
        "import marshal\nmarshal.loads(b)": "import marshal",
        "eval('1')": "eval()",
        "exec('x = 1')": "exec()",
    }
    for source, expected in bad.items():
        found = findings(source)
        assert any(expected in f for f in found), (source, found)
    ok = "import yaml\nyaml.load(x, Loader=yaml.SafeLoader)\nyaml.safe_load(x)\nr.eval('lua')\n"
    assert findings(ok + '"""pickle is never used"""') == []


def test_no_package_module_uses_unsafe_deserialization_or_eval() -> None:
    found: list[str] = []
    for path in _sources():
        found += findings(path.read_text(), str(path.relative_to(ROOT)))
    assert found == []


def test_celery_accepts_and_sends_json_only() -> None:
    conf = celery_config(Settings())
    assert conf["accept_content"] == ["json"]
    for key in ("task_serializer", "result_serializer", "event_serializer"):
        assert conf[key] == "json", key
    app = create_app(Settings())
    try:
        assert list(app.conf.accept_content) == ["json"]
        assert app.conf.result_backend is None
    finally:
        app.close()


def test_kombu_refuses_a_pickled_message_under_the_app_accept_list() -> None:
    import pickle  # the test needs a real pickle payload to show it is refused

    payload = pickle.dumps({"boom": 1})
    accept = kombu.serialization.prepare_accept_content(["json"])
    with pytest.raises(ContentDisallowed):
        kombu.serialization.loads(
            payload, "application/x-python-serialize", "binary", accept=accept
        )
    assert kombu.serialization.loads(b'{"ok": 1}', "application/json", "utf-8", accept=accept)


def test_beat_uses_the_in_memory_scheduler_not_shelve() -> None:
    tree = ast.parse((ROOT / "vbq/cli/beat.py").read_text())
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert "celery.beat:Scheduler" in strings
    assert not any("PersistentScheduler" in str(s) for s in strings)
