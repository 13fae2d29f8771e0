"""The recovery measure of bench_adaptive: first 2-s window of admitted creates at the rate."""

from __future__ import annotations

from ops.bench.bench_adaptive import Side, back_to_rate


def test_back_to_rate_finds_the_first_full_window() -> None:
    slow = [100.0 + i / 5 for i in range(50)]  # 5/s for 10 s
    fast = [110.0 + i / 20 for i in range(200)]  # then 20/s for 10 s
    # [109.9, 111.9) holds 38 creates of the fast part: 19/s on average.
    assert back_to_rate(slow + fast, 100.0, per_s=19.0) == 11.9
    assert back_to_rate(slow + fast, 100.0, per_s=20.0) == 12.0
    assert back_to_rate(slow, 100.0, per_s=19.0) is None
    assert back_to_rate([], 100.0, per_s=19.0) is None


def test_side_row_shows_share_and_times() -> None:
    side = Side("adaptive", 200, 5, 3.0, 28.94, None, 0)
    assert side.share == 0.025
    row = side.row("30.0x")
    assert "| 2.5% |" in row and "28.9 s" in row and "not within the run" in row
