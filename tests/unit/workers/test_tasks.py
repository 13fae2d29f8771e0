"""The Celery task wrappers: malformed messages are dropped before anything is built."""

from __future__ import annotations

import pytest

from vbq.workers import tasks


@pytest.mark.parametrize("arg", ["", "x" * 32, "ABCDEF" * 6, 42, None, ["a"], "0" * 31])
def test_malformed_submission_ids_are_dropped(arg: object, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode() -> None:
        raise AssertionError("dependencies must not be built for a malformed message")

    monkeypatch.setattr(tasks, "_deps", explode)
    assert tasks.submit.run(arg) == "dropped"
    assert tasks.cancel.run(arg) == "dropped"


def test_task_names_and_routes() -> None:
    assert tasks.submit.name == "vbq.submit"
    assert tasks.cancel.name == "vbq.cancel"
    assert tasks.sweep.name == "vbq.sweep"
    router = tasks.app.amqp.router
    assert router.route({}, "vbq.submit")["queue"].name == "vbq.submit"
    assert router.route({}, "vbq.sweep")["queue"].name == "vbq.maintenance"
