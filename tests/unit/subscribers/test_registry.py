from __future__ import annotations

import pytest

from tests.unit.subscribers import sample_handlers
from vbq.errors import ConfigError
from vbq.events import JobEvent
from vbq.subscribers import HandlerRegistry, load_handlers
from vbq.subscribers.registry import ALL_TYPES, handler_name


def _noop(event: JobEvent) -> None:
    return None


def test_decorator_registers_for_listed_types_only() -> None:
    reg = HandlerRegistry()

    @reg.handler("job.succeeded", "job.failed")
    def h(event: JobEvent) -> None:
        return None

    assert [r.func for r in reg.for_type("job.succeeded")] == [h]
    assert [r.func for r in reg.for_type("job.failed")] == [h]
    assert reg.for_type("job.running") == []


def test_wildcard_and_no_types_match_everything() -> None:
    reg = HandlerRegistry()
    a = reg.add(_noop, ALL_TYPES)
    assert a.matches("job.stale") and a.matches("job.succeeded")
    reg2 = HandlerRegistry()
    b = reg2.add(_noop)
    assert b.types == frozenset({ALL_TYPES})


def test_unknown_type_fails_at_registration() -> None:
    reg = HandlerRegistry()
    with pytest.raises(ConfigError, match=r"job\.succeded"):
        reg.handler("job.succeded")


def test_registration_order_and_replacement_by_name() -> None:
    reg = HandlerRegistry()

    def first(event: JobEvent) -> None:
        return None

    def second(event: JobEvent) -> None:
        return None

    reg.add(first, "job.succeeded")
    reg.add(second, "*")
    reg.add(first, "job.failed")  # same name: replaces, keeps one entry
    assert len(reg) == 2
    assert [r.func for r in reg.for_type("job.succeeded")] == [second]
    assert [r.func for r in reg.for_type("job.failed")] == [first, second]


def test_handler_name_is_module_and_qualname() -> None:
    assert handler_name(_noop) == f"{__name__}:_noop"


def test_load_by_function_keeps_its_decorated_types() -> None:
    chosen = load_handlers(
        ["tests.unit.subscribers.sample_handlers:on_succeeded"], source=sample_handlers.SAMPLE
    )
    assert [r.func for r in chosen.registrations] == [sample_handlers.on_succeeded]
    assert chosen.registrations[0].types == frozenset({"job.succeeded"})


def test_load_plain_function_registers_for_all_types() -> None:
    chosen = load_handlers(
        ["tests.unit.subscribers.sample_handlers:plain"], source=sample_handlers.SAMPLE
    )
    (reg,) = chosen.registrations
    assert reg.func is sample_handlers.plain and reg.types == frozenset({ALL_TYPES})


def test_load_module_selects_all_its_decorated_handlers() -> None:
    chosen = load_handlers(
        ["tests.unit.subscribers.sample_handlers"], source=sample_handlers.SAMPLE
    )
    assert {r.func for r in chosen.registrations} == {
        sample_handlers.on_succeeded,
        sample_handlers.on_failed_or_cancelled,
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no.such.module_xyz:f", "cannot import"),
        ("tests.unit.subscribers.sample_handlers:missing", "has no missing"),
        ("tests.unit.subscribers.sample_handlers:NOT_CALLABLE", "not callable"),
        ("tests.unit.subscribers.test_registry", "no @handler"),
        (":f", "expected pkg.module:func"),
    ],
)
def test_load_errors_name_the_problem(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_handlers([spec], source=sample_handlers.SAMPLE)


def test_load_needs_at_least_one_spec() -> None:
    with pytest.raises(ConfigError):
        load_handlers([])
