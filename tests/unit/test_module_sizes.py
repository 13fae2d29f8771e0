"""No product module exceeds 400 lines (docs/architecture.md § Style: small modules, one concept
each). Split along a real seam instead of trimming lines; there are no generated modules to
exempt."""

from __future__ import annotations

from pathlib import Path

import pytest

MAX_LINES = 400
ROOT = Path(__file__).resolve().parents[2]
# The product's source trees; vbq/producers, vbq/workers and vbq/subscribers are symlinks to
# the top-level role folders, which are listed themselves.
PRODUCT_TREES = (
    "vbq",
    "producers",
    "workers",
    "subscribers",
    "emulators/vbq_emulators",
    "demo/vbq_demo",
)
GENERATED: frozenset[str] = frozenset()
"""Generated modules (paths relative to the repository) exempt from the limit: none today."""


def _modules() -> list[Path]:
    found: set[Path] = set()
    for tree in PRODUCT_TREES:
        for path in (ROOT / tree).rglob("*.py"):
            if path.relative_to(ROOT).as_posix() not in GENERATED:
                found.add(path.resolve())
    return sorted(found)


def _line_count(path: Path) -> int:
    with path.open(encoding="utf-8") as f:
        return sum(1 for _ in f)


def test_the_product_trees_are_found() -> None:
    modules = _modules()
    names = {p.relative_to(ROOT).as_posix() for p in modules}
    assert len(modules) > 100
    assert "vbq/settings/settings.py" in names
    assert "producers/client.py" in names
    assert "workers/submit.py" in names
    assert "subscribers/processing.py" in names


def test_no_product_module_exceeds_the_limit() -> None:
    too_long = {
        p.relative_to(ROOT).as_posix(): n for p in _modules() if (n := _line_count(p)) > MAX_LINES
    }
    assert not too_long, f"modules over {MAX_LINES} lines (split them): {too_long}"


def test_the_check_counts_lines_like_wc(tmp_path: Path) -> None:
    long_module = tmp_path / "long.py"
    long_module.write_text("x = 1\n" * (MAX_LINES + 1))
    assert _line_count(long_module) == MAX_LINES + 1


@pytest.mark.parametrize("tree", PRODUCT_TREES)
def test_every_tree_exists(tree: str) -> None:
    assert (ROOT / tree).is_dir()
