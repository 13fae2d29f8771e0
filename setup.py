"""Extras of vertex-batch-queue (everything else is in pyproject.toml).

``[emulators]`` and ``[demo]`` are separate distributions kept in this repository
(``emulators/``, ``demo/``). From a checkout, an extra names its sibling folder as a direct
``file://`` reference, so ``pip install '.[emulators]'`` installs it with no index; an sdist
carries no sibling folders, so a release depends on the sibling release of the same version.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
VERSION = "0.1.0"


def sibling(folder: str, distribution: str) -> str:
    """The requirement on a sibling distribution: its folder when present, else the release."""
    path = HERE / folder
    if (path / "pyproject.toml").is_file():
        return f"{distribution} @ {path.as_uri()}"
    return f"{distribution}=={VERSION}"


EMULATORS = [sibling("emulators", "vertex-batch-queue-emulators")]
DEMO = [*EMULATORS, sibling("demo", "vertex-batch-queue-demo")]

setup(
    extras_require={
        "emulators": EMULATORS,
        "demo": DEMO,
        "bigquery": ["google-cloud-bigquery>=3.20"],
        "flower": ["flower>=2.0"],
        "dev": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "pytest-xdist>=3.5",
            "hypothesis>=6.100",
            "mypy>=1.10",
            "ruff>=0.5",
            "import-linter>=2.1",
            "celery-types>=0.22",
            "types-pyyaml",
            "types-protobuf",
            "grpc-stubs",
            "google-cloud-aiplatform>=1.60",
            "google-cloud-bigquery>=3.20",
            "schemathesis>=3.30",
            "pip-audit>=2.7",
            # Browser tests of the console drive Debian's chromium (never `playwright install`).
            "playwright>=1.45",
        ],
    },
)
