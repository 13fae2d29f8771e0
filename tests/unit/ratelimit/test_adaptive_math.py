"""Pure AIMD math of the adaptive create rate and the GCRA parameters it feeds.

The Lua scripts run the same arithmetic; tests/integration/ratelimit/test_adaptive.py checks
them against these functions on a real redis-server.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vbq.errors import ConfigError
from vbq.quota.adaptive import AdaptiveParams, AdaptiveState, after_throttle, effective_rate
from vbq.quota.ratelimit import adaptive_gcra_params, gcra_params, window_us
from vbq.settings import Settings

S = 1_000_000  # µs per second
T0 = 1_700_000_000 * S

SETTINGS = Settings(
    create_rate_per_min=1200,  # 20/s
    adaptive_decrease_factor=0.5,
    adaptive_decrease_interval_s=1.0,
    adaptive_quiet_s=5.0,
    adaptive_increase_share_per_s=0.025,  # +0.5/s per second
    adaptive_min_share=0.05,  # floor 1/s
)
P = AdaptiveParams.from_settings(SETTINGS)


def test_params_from_settings() -> None:
    assert P.ceiling_per_s == 20.0
    assert P.floor_per_s == pytest.approx(1.0)
    assert P.increase_per_s2 == pytest.approx(0.5)
    assert (P.decrease_interval_us, P.quiet_us) == (S, 5 * S)


def test_no_state_is_the_ceiling() -> None:
    assert effective_rate(None, T0, P) == 20.0


def test_a_429_halves_the_rate_once_per_interval() -> None:
    state, cut = after_throttle(None, T0, P)
    assert cut and state.base_per_s == 10.0 and state.throttled == 1
    # The rest of the burst (same window): no further cut, but the quiet period restarts.
    later = T0 + S // 2
    state2, cut2 = after_throttle(state, later, P)
    assert not cut2 and state2.base_per_s == 10.0 and state2.last_429_us == later
    assert state2.last_cut_us == T0 and state2.throttled == 2
    state3, cut3 = after_throttle(state2, T0 + S, P)
    assert cut3 and state3.base_per_s == 5.0


def test_the_rate_never_goes_below_the_floor() -> None:
    state: AdaptiveState | None = None
    for i in range(20):
        state, _ = after_throttle(state, T0 + i * S, P)
    assert state is not None and state.base_per_s == pytest.approx(1.0)
    assert effective_rate(state, T0 + 20 * S, P) == pytest.approx(1.0)


def test_quiet_period_then_additive_climb_to_the_ceiling() -> None:
    state, _ = after_throttle(None, T0, P)  # 10/s
    assert effective_rate(state, T0 + 5 * S, P) == 10.0  # still quiet
    assert effective_rate(state, T0 + 7 * S, P) == pytest.approx(11.0)  # 2 s x 0.5/s²
    assert effective_rate(state, T0 + 25 * S, P) == 20.0  # 10 + 0.5 x 20 = 20: the ceiling
    assert effective_rate(state, T0 + 3600 * S, P) == 20.0


def test_a_429_during_the_climb_cuts_from_the_climbed_rate() -> None:
    state, _ = after_throttle(None, T0, P)  # 10/s
    state, cut = after_throttle(state, T0 + 9 * S, P)  # climbed to 12/s
    assert cut and state.base_per_s == pytest.approx(6.0)


def test_gcra_params_at_the_ceiling_are_the_configured_ones() -> None:
    assert adaptive_gcra_params(20.0, ceiling_per_s=20.0, burst=5, margin_s=0.15) == gcra_params(
        1200, 5, 0.15
    )


def test_gcra_params_follow_a_lower_rate_without_bursts() -> None:
    interval, tau = adaptive_gcra_params(5.0, ceiling_per_s=20.0, burst=5, margin_s=0.15)
    assert interval == 200_001  # 5/s
    assert tau == 0  # burst 5 x 5/20 = 1, all of it held back for the margin
    interval, tau = adaptive_gcra_params(10.0, ceiling_per_s=20.0, burst=8, margin_s=0.0)
    # burst 8 x 10/20 = 4 whole intervals of tolerance, under the ceiling's 8 x 50,001 µs
    assert (interval, tau) == (100_001, 400_004)
    assert tau <= gcra_params(1200, 8, 0.0)[1]


def test_gcra_params_reject_a_non_positive_rate() -> None:
    with pytest.raises(ConfigError):
        adaptive_gcra_params(0.0, ceiling_per_s=20.0, burst=5, margin_s=0.15)


def _max_closed_window(times: list[int], width_us: int) -> int:
    best, j = 0, 0
    for i, start in enumerate(times):
        j = max(j, i)
        while j + 1 < len(times) and times[j + 1] <= start + width_us:
            j += 1
        best = max(best, j - i + 1)
    return best


@settings(max_examples=150, deadline=None)
@given(
    ceiling=st.integers(min_value=1, max_value=100),
    burst=st.integers(min_value=0, max_value=10),
    margin_ms=st.sampled_from([0, 50, 150]),
    steps=st.lists(
        st.tuples(st.integers(0, 40_000), st.floats(0.01, 1.0)), min_size=1, max_size=500
    ),
)
def test_a_changing_rate_never_lets_more_than_the_ceilings_bar_into_a_window(
    ceiling: int, burst: int, margin_ms: int, steps: list[tuple[int, float]]
) -> None:
    """GCRA whose (T, tau) change between asks (the effective rate moving) still holds the
    configured bar, floor(rate + burst), in every window of 1 s + margin (the invariant)."""
    margin_s = margin_ms / 1000
    now, tat, grants = T0, 0, []
    for gap_us, share in steps:
        now += gap_us
        interval, tau = adaptive_gcra_params(
            ceiling * share, ceiling_per_s=float(ceiling), burst=burst, margin_s=margin_s
        )
        t = max(tat, now)
        if t - tau <= now:
            tat = t + interval
            grants.append(now)
    bar = max(1, math.floor(ceiling + burst))
    assert _max_closed_window(grants, window_us(margin_s)) <= bar


def test_settings_parse_and_refuse_out_of_range() -> None:
    s = Settings.from_env(
        {
            "VBQ_ADAPTIVE_RATE": "off",
            "VBQ_ADAPTIVE_DECREASE_FACTOR": "0.7",
            "VBQ_ADAPTIVE_QUIET_S": "2.5",
            "VBQ_ADAPTIVE_INCREASE_SHARE_PER_S": "0.1",
            "VBQ_ADAPTIVE_MIN_SHARE": "0.2",
            "VBQ_ADAPTIVE_DECREASE_INTERVAL_S": "0.5",
        }
    )
    assert not s.adaptive_rate and s.adaptive_decrease_factor == 0.7
    assert (s.adaptive_quiet_s, s.adaptive_increase_share_per_s) == (2.5, 0.1)
    assert (s.adaptive_min_share, s.adaptive_decrease_interval_s) == (0.2, 0.5)
    assert not s.extra
    with pytest.raises(ConfigError, match="VBQ_ADAPTIVE_DECREASE_FACTOR"):
        Settings.from_env({"VBQ_ADAPTIVE_DECREASE_FACTOR": "1.5"})
    with pytest.raises(ConfigError, match="VBQ_ADAPTIVE_MIN_SHARE"):
        Settings.from_env({"VBQ_ADAPTIVE_MIN_SHARE": "0"})
