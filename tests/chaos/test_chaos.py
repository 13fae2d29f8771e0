"""The chaos suite (``make chaos``; the bounded CI form is ``make chaos-ci``).

Every test runs the real pipeline (:mod:`tests.chaos.cluster`), injects faults
(:mod:`tests.chaos.faults`), drains, and asserts the total-queue checker found nothing
(:mod:`tests.chaos.checker`): no lost submission, no unexpected or duplicate Vertex job, every
state change published at least once and handled exactly once (invariants 1-3,
docs/architecture.md § Invariants). The counts are printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.faults import ALL_FAULTS
from tests.chaos.run import ChaosPlan, run_chaos

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

CI_FAULTS = (
    "kill_worker",
    "kill_subscriber",
    "redis_restart",
    "pubsub_down",
    "vertex_429",
    "vertex_create_drop",
    "two_beats",
)


def _run(tmp_path: Path, plan: ChaosPlan) -> None:
    report, text = run_chaos(tmp_path, plan)
    print("\n" + text)
    assert report.ok, text


@pytest.mark.timeout(420)
@pytest.mark.parametrize("fault", ALL_FAULTS)
def test_each_fault_alone(tmp_path: Path, fault: str) -> None:
    _run(
        tmp_path,
        ChaosPlan(
            submissions=150,
            requests=100,
            faults=(fault,),
            fault_window_s=25.0,
            pubsub_down_s=10.0,
            drain_timeout_s=240.0,
            gap_s=(2.0, 6.0),
            title=f"{fault} alone, 150 submissions",
        ),
    )


@pytest.mark.timeout(1800)
def test_all_faults_together_2000(tmp_path: Path) -> None:
    _run(
        tmp_path,
        ChaosPlan(
            submissions=2000,
            requests=2000,
            faults=ALL_FAULTS,
            fault_window_s=150.0,
            pubsub_down_s=60.0,
            drain_timeout_s=600.0,
            gap_s=(5.0, 15.0),
            title="all faults together, 2000 submissions",
        ),
    )


@pytest.mark.timeout(240)
def test_ci_bounded(tmp_path: Path) -> None:
    """The bounded run CI does after ``make test``: 150 submissions and 300 single requests
    (packed into jobs), most faults, < 4 min."""
    _run(
        tmp_path,
        ChaosPlan(
            submissions=150,
            requests=300,
            faults=CI_FAULTS,
            fault_window_s=30.0,
            pubsub_down_s=10.0,
            drain_timeout_s=150.0,
            gap_s=(3.0, 8.0),
            title="CI bounded: 150 submissions, most faults",
        ),
    )
