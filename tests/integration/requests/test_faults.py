"""Crashes in the request path (a step fails once, then everything runs again): no request
lost, none in two packs or jobs, none answered twice, one finished event per packed job."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.requests.inproc import check_invariants
from tests.support.emulators import VertexEmulator
from vbq.requests import PackBook, RequestState
from vbq.store.results import ResultsBook

pytestmark = pytest.mark.integration


class Once:
    """Wraps a method so that its ``nth`` call raises (a crash at that point)."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, nth: int = 1
    ) -> None:
        self.calls = 0
        original = getattr(owner, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == nth:
                raise RuntimeError(f"simulated crash in {name}")
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapped)


def test_crash_after_the_pack_submission_was_created(
    make_flow: Any, vertex_emulator: VertexEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = make_flow()
    handles = flow.add(120)
    Once(monkeypatch, PackBook, "mark_flushed")
    with pytest.raises(RuntimeError):
        flow.packer.flush(flow.recorder.flushes[0])
    flow.drive(flow.answered(120))
    check_invariants(flow, vertex_emulator, handles, 120)
    assert all(h.record.state is RequestState.SUCCEEDED for h in handles)
    for i, h in enumerate(handles):
        assert h.text == f"echo: q 0 {i}"


def test_crash_while_writing_the_pack(
    make_flow: Any, vertex_emulator: VertexEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = make_flow(VBQ_PACK_MAX_ROWS="12000")
    handles = flow.add(11000)  # three pages of lines: the crash comes after the first
    original = PackBook.iter_lines
    crashes = []

    def first_page_then_crash(self: PackBook, pack_id: str) -> Any:
        pages = original(self, pack_id)
        yield next(pages)
        if not crashes:
            crashes.append(pack_id)
            raise RuntimeError("simulated crash mid-upload")
        yield from pages

    monkeypatch.setattr(PackBook, "iter_lines", first_page_then_crash)
    pid = handles[0].pack_id
    with pytest.raises(RuntimeError):
        flow.packer.flush(pid, force=True)
    assert flow.client._requests()[0].get_pack(pid).state.value == "SEALED"  # type: ignore[union-attr]
    flow.drive(flow.answered(11000), timeout_s=120)
    check_invariants(flow, vertex_emulator, handles, 11000)


def test_crash_in_the_middle_of_unpacking(
    make_flow: Any, vertex_emulator: VertexEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = make_flow(VBQ_PACK_MAX_ROWS="20000")
    handles = flow.add(12000)  # three answer batches of 5,000: the second one crashes
    once = Once(monkeypatch, PackBook, "answer", nth=2)

    def some_answered() -> bool:
        return once.calls >= 2

    flow.drive(some_answered, timeout_s=120)
    assert 0 < flow.counts().get("SUCCEEDED", 0) < 12000
    for sid in ResultsBook(flow.r).due(1e12):
        ResultsBook(flow.r).later(sid, 0)  # its retry is due now, not in a few seconds
    flow.drive(flow.answered(12000), timeout_s=120)
    check_invariants(flow, vertex_emulator, handles, 12000)
    assert flow.counts() == {"SUCCEEDED": 12000}


def test_crash_before_the_finished_event_is_published(
    make_flow: Any, vertex_emulator: VertexEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = make_flow()
    handles = flow.add(60)
    Once(monkeypatch, ResultsBook, "finish")

    def failed_once() -> bool:
        return flow.counts().get("SUCCEEDED", 0) >= 50

    with pytest.raises(RuntimeError):
        flow.drive(failed_once)
    flow.drive(flow.answered(60))
    for _ in range(5):
        flow.step()
    check_invariants(flow, vertex_emulator, handles, 60)


def test_a_failed_pack_job_fails_each_request_with_the_job_error(
    make_flow: Any, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.configure(fail_share=1.0)
    flow = make_flow()
    handles = flow.add(30)
    flow.drive(flow.answered(30))
    check_invariants(flow, vertex_emulator, handles, 30)
    for h in handles:
        assert h.state is RequestState.FAILED
        assert h.error is not None and h.error["source"] == "job" and h.error["message"]
        assert h.response is None
    (event,) = [e for e in flow.events() if e["type"] == "job.failed"]
    assert event["results"]["failed"] == 30 and event["results"]["without_row"] == 30


def test_a_rejected_pack_fails_its_requests(
    make_flow: Any, vertex_emulator: VertexEmulator
) -> None:
    flow = make_flow()
    handles = flow.add(10)
    pid = handles[0].pack_id
    flow.packer.flush(pid, force=True)
    sid = flow.client._requests()[0].get_pack(pid).submission_id  # type: ignore[union-attr]
    flow.store.transition(
        sid, expected={"ACCEPTED"}, new_state="REJECTED", updates={"last_error": "no"}
    )
    flow.recorder.submits.clear()
    flow.drive(flow.answered(10))
    assert all(h.state is RequestState.FAILED for h in handles)
    assert handles[0].error == {"code": None, "message": "no", "status": None, "source": "job"}
    assert vertex_emulator.jobs() == []


def test_row_errors_come_back_as_googles_status(
    make_flow: Any, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.configure(partial_share=1.0)  # every second row fails
    flow = make_flow()
    handles = flow.add(20)
    flow.drive(flow.answered(20))
    states = [h.state for h in handles]
    assert states.count(RequestState.FAILED) == 10
    bad = next(h for h in handles if h.state is RequestState.FAILED)
    assert bad.error == {
        "code": 400,
        "message": "injected partial failure",
        "status": "INVALID_ARGUMENT",
        "source": "row",
    }
    good = next(h for h in handles if h.state is RequestState.SUCCEEDED)
    assert good.response and good.usage["total"] > 0


def test_request_events_when_enabled(make_flow: Any, vertex_emulator: VertexEmulator) -> None:
    flow = make_flow(VBQ_REQUEST_EVENTS="true")
    handles = flow.add(40)
    flow.drive(flow.answered(40))
    events = [e for e in flow.events() if e["type"] == "request.succeeded"]
    assert sorted(e["submission_id"] for e in events) == sorted(h.request_id for h in handles)
    assert all(e["results"]["output"]["length"] > 0 for e in events)
