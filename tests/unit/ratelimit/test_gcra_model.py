"""Pure logic of the limiter and slots: interval rounding, lease arguments, and the GCRA bound.

The bound is checked on a Python model of the exact integer arithmetic the Lua script runs
(microseconds, ``allow when max(TAT, now) - tau <= now``), over random arrival patterns.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from vbq.quota.ratelimit import Decision, emission_interval_us, gcra_params
from vbq.quota.slots import _lease_arg


def _gcra(
    arrivals_us: list[int], interval_us: int, burst: int, tau_us: int | None = None
) -> list[int]:
    tat, tau, grants = 0, burst * interval_us if tau_us is None else tau_us, []
    for now in arrivals_us:
        t = max(tat, now)
        if t - tau <= now:
            tat = t + interval_us
            grants.append(now)
    return grants


def _max_closed_window(times: list[int], window_us: int) -> int:
    best, j = 0, 0
    for i, start in enumerate(times):
        j = max(j, i)
        while j + 1 < len(times) and times[j + 1] <= start + window_us:
            j += 1
        best = max(best, j - i + 1)
    return best


@settings(max_examples=200, deadline=None)
@given(
    rate_per_s=st.integers(min_value=1, max_value=200),
    burst=st.integers(min_value=0, max_value=20),
    gaps_us=st.lists(st.integers(min_value=0, max_value=60_000), min_size=1, max_size=600),
)
def test_no_closed_one_second_window_exceeds_rate_plus_burst(
    rate_per_s: int, burst: int, gaps_us: list[int]
) -> None:
    arrivals = [1_700_000_000_000_000]
    for gap in gaps_us:
        arrivals.append(arrivals[-1] + gap)
    grants = _gcra(arrivals, emission_interval_us(rate_per_s * 60), burst)
    assert _max_closed_window(grants, 1_000_000) <= rate_per_s + burst


def test_saturating_arrivals_get_the_full_rate() -> None:
    rate_per_s, burst = 20, 3
    arrivals = list(range(0, 10_000_000, 1_000))  # a request every ms for 10 s
    grants = _gcra(arrivals, emission_interval_us(rate_per_s * 60), burst)
    assert len(grants) >= 0.99 * rate_per_s * 10 + burst
    assert grants[: burst + 1] == arrivals[: burst + 1]  # a rested key grants burst + 1 at once


def test_emission_interval_rounds_so_the_rate_is_never_exceeded() -> None:
    for per_min in (1, 60, 600, 1200, 7, 3600.5):
        interval = emission_interval_us(per_min)
        assert 1_000_000 < interval * per_min / 60 <= 1_000_000 + per_min / 60 + 1


def test_lease_argument_and_decision() -> None:
    assert _lease_arg(None) == "inf" and _lease_arg(math.inf) == "inf"
    assert _lease_arg(2.5) == "2.5" and _lease_arg(-1) == "0.0"
    assert Decision(allowed=True) and not Decision(allowed=False, retry_after_s=1.0)


def test_exactly_spaced_arrivals_stay_within_the_bar() -> None:
    """The worst case for a closed window: a burst, then arrivals exactly one interval apart.
    With an interval of exactly 1e6 / rate µs this grants rate + burst + 1 in one second."""
    rate_per_s, burst = 20, 3
    interval = emission_interval_us(rate_per_s * 60)
    arrivals = [0] * (burst + 1) + [k * (1_000_000 // rate_per_s) for k in range(1, 60)]
    arrivals += [k * interval for k in range(1, 60)]
    grants = _gcra(sorted(arrivals), interval, burst)
    assert _max_closed_window(grants, 1_000_000) <= rate_per_s + burst


def _worst_delays(grants: list[int], margin_us: int) -> list[int]:
    """Each grant's arrival at Google when the delay spread works against the bar: every
    grant in the first half of each second arrives late by the whole margin, the rest at once."""
    return sorted(g + (margin_us if g % 1_000_000 < 500_000 else 0) for g in grants)


@settings(max_examples=300, deadline=None)
@given(
    per_min=st.floats(min_value=6.0, max_value=6000.0, allow_nan=False),
    burst=st.integers(min_value=0, max_value=20),
    margin_ms=st.integers(min_value=0, max_value=300),
    data=st.data(),
)
def test_delays_within_the_margin_keep_every_second_at_google_within_the_bar(
    per_min: float, burst: int, margin_ms: int, data: st.DataObject
) -> None:
    """Saturating asks; grants reach Google after delays that vary by up to the margin
    (random, and the adversarial pattern). No 1 s window of arrivals exceeds rate + burst,
    for any rate (not only whole calls per second) and any burst, however small."""
    margin_us = margin_ms * 1_000
    interval, tau = gcra_params(per_min, burst, margin_ms / 1000)
    arrivals = list(range(0, 4_000_000, 997))  # asking about every ms for 4 s
    grants = _gcra(arrivals, interval, burst, tau)
    delays = data.draw(
        st.lists(
            st.integers(min_value=0, max_value=margin_us),
            min_size=len(grants),
            max_size=len(grants),
        )
    )
    bar = max(1.0, per_min / 60 + burst)  # below one call per second: still one at a time
    at_google = sorted(g + d for g, d in zip(grants, delays, strict=True))
    assert _max_closed_window(at_google, 1_000_000) <= bar
    assert _max_closed_window(_worst_delays(grants, margin_us), 1_000_000) <= bar


def test_the_margin_costs_burst_not_rate_while_the_burst_covers_it() -> None:
    # 20/s, burst 5, 0.15 s: 3 calls held back, the interval (the steady rate) unchanged.
    interval, tau = gcra_params(1200, 5, 0.15)
    assert interval == emission_interval_us(1200) and tau == 2 * interval
    # No margin: the plain GCRA (tau = burst intervals).
    assert gcra_params(1200, 5, 0.0) == (interval, 5 * interval)
    # A burst too small for the margin: the rate goes down instead (100/s, burst 5, 0.15 s).
    slow, tau = gcra_params(6000, 5, 0.15)
    assert tau == 0 and slow > emission_interval_us(6000)
    assert 1_000_000 / slow >= 90  # 105 calls per 1.15 s, not the 100/s asked for


def test_without_the_margin_a_delay_spread_breaks_the_bar() -> None:
    """Why the margin exists: the plain tolerance lets 100 ms of spread add calls at Google."""
    rate_per_s, burst = 20, 5
    interval = emission_interval_us(rate_per_s * 60)
    grants = _gcra(list(range(0, 3_000_000, 500)), interval, burst)
    # The burst is sent late, the steady grants of the next second early.
    at_google = sorted(g + (100_000 if g == 0 else 0) for g in grants)
    assert _max_closed_window(at_google, 1_000_000) > rate_per_s + burst
