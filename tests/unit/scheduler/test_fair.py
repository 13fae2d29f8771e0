"""The fair-share rules of the scheduler (pure logic) and the tenant policy parser."""

from __future__ import annotations

from collections import Counter

import pytest

from vbq.errors import ConfigError
from vbq.scheduler import FairQueueModel, TenantLimits, TenantPolicy, activation_tag, next_tag, pick


def test_pick_takes_the_smallest_unblocked_tag_ties_by_name() -> None:
    tags = [("b", 1.0), ("a", 1.0), ("c", 0.5)]
    assert pick(tags) == ("c", 0.5)
    assert pick(tags, blocked=lambda t: t == "c") == ("a", 1.0)
    assert pick(tags, blocked=lambda _t: True) is None
    assert pick([]) is None


def test_tags_advance_by_the_inverse_weight_and_never_bank_idle_time() -> None:
    assert next_tag(2.0, 4.0) == 2.25
    with pytest.raises(ValueError):
        next_tag(0.0, 0.0)
    assert activation_tag(None, 7.0) == 7.0
    assert activation_tag(3.0, 7.0) == 7.0  # idle: no credit
    assert activation_tag(9.0, 7.0) == 9.0  # served ahead: waits its turn


def test_a_late_small_tenant_is_served_at_once_behind_a_flood() -> None:
    model = FairQueueModel()
    for i in range(3000):
        model.add("a", f"a{i}")
    first = [model.next() for _ in range(10)]  # a has been served for a while
    for i in range(30):
        model.add("b", f"b{i}")
    order = [model.next() for _ in range(60)]
    b_positions = [i for i, got in enumerate(order) if got and got[0] == "b"]
    assert len(b_positions) == 30 and max(b_positions) < 61  # alternating with a
    assert all(got is not None and got[0] == "a" for got in first)


def test_weights_three_to_one_give_75_25_while_both_are_backlogged() -> None:
    model = FairQueueModel(weights={"a": 3.0, "b": 1.0})
    for i in range(1000):
        model.add("a", f"a{i}")
        model.add("b", f"b{i}")
    shares = Counter(got[0] for got in (model.next() for _ in range(400)) if got)
    assert shares == {"a": 300, "b": 100}


def test_work_conserving_an_idle_tenant_share_goes_to_the_others() -> None:
    model = FairQueueModel(weights={"a": 1.0, "b": 9.0})
    for i in range(50):
        model.add("a", f"a{i}")
    assert [model.next() for _ in range(50)] == [("a", f"a{i}") for i in range(50)]
    assert model.next() is None


def test_priority_first_within_a_tenant_arrival_order_within_a_priority() -> None:
    model = FairQueueModel()
    for i in range(1000):
        model.add("a", f"bulk{i}", "bulk")
    model.add("a", "d0", "default")
    model.add("a", "i0", "interactive")
    model.add("a", "i1", "interactive")
    got = [model.next() for _ in range(5)]
    assert [g[1] for g in got if g] == ["i0", "i1", "d0", "bulk0", "bulk1"]


def test_blocked_tenant_is_skipped_and_keeps_its_place() -> None:
    model = FairQueueModel()
    for i in range(3):
        model.add("a", f"a{i}")
        model.add("b", f"b{i}")
    got = [model.next(blocked=lambda t: t == "a") for _ in range(3)]
    assert [g[0] for g in got if g] == ["b", "b", "b"]
    assert model.next(blocked=lambda t: t == "a") is None
    assert model.next() == ("a", "a0")


def test_policy_defaults_overrides_and_errors() -> None:
    policy = TenantPolicy.parse(
        weight=1.0, max_queued=10, max_in_flight=0, overrides='{"big": {"weight": 3}}'
    )
    assert policy.limits("x") == TenantLimits(weight=1.0, max_queued=10, max_in_flight=0)
    assert policy.limits("big") == TenantLimits(weight=3.0, max_queued=10, max_in_flight=0)
    for bad in ("[", "[1]", '{"a": 1}', '{"a": {"weight": 0}}', '{"a": {"speed": 1}}'):
        with pytest.raises(ConfigError, match="VBQ_TENANT_OVERRIDES"):
            TenantPolicy.parse(weight=1.0, max_queued=0, max_in_flight=0, overrides=bad)
