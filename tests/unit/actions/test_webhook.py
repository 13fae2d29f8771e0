"""Webhook delivery logic against httpx.MockTransport (no network)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from vbq.errors import ConfigError, HandlerError
from vbq.events import JobEvent
from vbq.subscribers.actions import SignatureCheck, Webhook, verify

SECRET = "topsecret-value-123"
EVENT = JobEvent.create(
    type="job.succeeded", submission_id="b" * 32, state="SUCCEEDED", previous_state="RUNNING"
)


def _hook(
    answer: Callable[[httpx.Request], httpx.Response], **kw: object
) -> tuple[Webhook, list[httpx.Request], list[float]]:
    seen: list[httpx.Request] = []
    sleeps: list[float] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    client = httpx.Client(transport=httpx.MockTransport(handle))
    opts: dict[str, object] = {"budget_s": 5.0, "backoff_base_s": 0.01, "backoff_max_s": 0.02}
    opts.update(kw)
    hook = Webhook(
        url="https://hooks.test/path/tok-abc", secret=SECRET, client=client,
        sleep=sleeps.append, **opts,  # type: ignore[arg-type]
    )  # fmt: skip
    return hook, seen, sleeps


def test_success_sends_signed_event_with_headers() -> None:
    hook, seen, _ = _hook(lambda r: httpx.Response(204))
    assert hook.deliver(EVENT) == 204
    (req,) = seen
    assert req.method == "POST" and req.content == EVENT.to_bytes()
    assert req.headers["X-Vbq-Event-Id"] == EVENT.event_id
    assert req.headers["Content-Type"] == "application/json"
    check = verify(
        secrets=[SECRET],
        body=req.content,
        timestamp=req.headers["X-Vbq-Timestamp"],
        signature=req.headers["X-Vbq-Signature"],
    )
    assert check is SignatureCheck.OK


def test_retries_5xx_and_connect_errors_then_succeeds() -> None:
    answers = iter(["boom", 500, 503, 429, 200])

    def answer(request: httpx.Request) -> httpx.Response:
        a = next(answers)
        if a == "boom":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(int(a))

    hook, seen, sleeps = _hook(answer)
    assert hook.deliver(EVENT) == 200
    assert len(seen) == 5 and len(sleeps) == 4
    assert all(0 < s <= 0.02 for s in sleeps)
    # Every attempt is signed afresh and with the same body.
    assert len({r.headers["X-Vbq-Signature"] for r in seen}) >= 1
    assert {r.content for r in seen} == {EVENT.to_bytes()}


def test_budget_exhausted_raises_handler_error_without_the_secret() -> None:
    hook, seen, _ = _hook(lambda r: httpx.Response(502), budget_s=0.3, backoff_base_s=0.05)
    hook._sleep = lambda s: __import__("time").sleep(s)  # real time against the budget
    with pytest.raises(HandlerError, match="will be redelivered") as info:
        hook.deliver(EVENT)
    assert len(seen) >= 2
    assert SECRET not in str(info.value) and "tok-abc" not in str(info.value)
    assert SECRET not in repr(hook) and info.value.retryable


@pytest.mark.parametrize("status", [400, 401, 404, 302])
def test_final_refusals_raise_at_once(status: int) -> None:
    hook, seen, sleeps = _hook(lambda r: httpx.Response(status))
    with pytest.raises(HandlerError, match=f"refused event .*{status}"):
        hook.deliver(EVENT)
    assert len(seen) == 1 and sleeps == []


def test_retry_after_is_honoured() -> None:
    answers = iter([httpx.Response(503, headers={"Retry-After": "0.5"}), httpx.Response(200)])
    hook, _, sleeps = _hook(lambda r: next(answers))
    hook(EVENT)
    assert sleeps == [0.5]


def test_secret_comes_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_HOOK_SECRET", SECRET)
    hook = Webhook(url="http://127.0.0.1:1/x", secret_env="MY_HOOK_SECRET", name="n")
    assert hook._secret == SECRET and hook.name == "n"
    assert hook.__qualname__ == "Webhook[n]"
    hook.close()
    monkeypatch.delenv("MY_HOOK_SECRET")
    with pytest.raises(ConfigError, match="MY_HOOK_SECRET is unset"):
        Webhook(url="http://127.0.0.1:1/x", secret_env="MY_HOOK_SECRET")
    with pytest.raises(ConfigError, match="needs secret_env"):
        Webhook(url="http://127.0.0.1:1/x")
    with pytest.raises(ConfigError, match="url"):
        Webhook(url="ftp://x/y", secret="s")
