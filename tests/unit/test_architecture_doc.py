"""docs/architecture.md stays true: every file it names exists, every test it cites for an
invariant exists in the file it names, and each of the five invariants cites tests."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")

_PATH = re.compile(r"`((?:tests|vbq|workers|producers|subscribers|emulators|demo)/[\w./-]+)`")
# A cited file followed by the tests it holds: `tests/x.py` (`test_a`, `test_b`)
_CITED = re.compile(r"`(tests/[\w/]+\.py)`\s*\(([^)]*)\)", re.S)


def test_every_path_named_exists() -> None:
    missing = sorted({p for p in _PATH.findall(DOC) if not (ROOT / p.rstrip("/")).exists()})
    assert not missing, missing


def test_every_cited_test_exists_in_its_file() -> None:
    missing = []
    for path, inside in _CITED.findall(DOC):
        source = (ROOT / path).read_text(encoding="utf-8")
        for name in re.findall(r"`(test_\w+)`", inside):
            if not re.search(rf"^def {name}\(", source, re.M):
                missing.append(f"{path}::{name}")
    assert not missing, missing


def test_each_invariant_cites_tests() -> None:
    sections = re.split(r"^### ", DOC, flags=re.M)[1:]
    numbered = {s.split(".", 1)[0]: s for s in sections if s[:1].isdigit()}
    assert sorted(numbered) == ["1", "2", "3", "4", "5"]
    for number, text in numbered.items():
        assert "Tests:" in text and "`tests/" in text, number
