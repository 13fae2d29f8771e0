"""Push delivery: POST each message of a push subscription to its endpoint, as Google does.

One thread per push subscription leases messages through a stream of its own (so ordering keys,
ack deadlines, retry policies and dead-lettering work exactly as for pull) and hands each to a
shared pool of HTTP senders. An answer of 102, 200, 201, 202 or 204 acks the message; any other
answer, a connection error or no answer within the ack deadline nacks it. Delivery is paced as
Google describes: a push window of outstanding messages that starts small, grows by one per
success and halves on a failure, and a push backoff after failures (100 ms doubling to 60 s)
during which nothing is sent.
"""

from __future__ import annotations

import http.client
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from vbq.logs import get_logger
from vbq_emulators.pubsub.oidc import TokenSigner
from vbq_emulators.pubsub.push_format import SUCCESS_CODES, PushRequest, build_push_request
from vbq_emulators.pubsub.status import StatusError

if TYPE_CHECKING:
    from vbq_emulators.pubsub.broker import Broker
    from vbq_emulators.pubsub.model import StreamState

__all__ = ["PushDelivery", "post"]

log = get_logger(__name__)

INITIAL_WINDOW = 3
MAX_WINDOW = 1000
MIN_BACKOFF_S, MAX_BACKOFF_S = 0.1, 60.0
WAIT_SLICE_S = 1.0


def post(request: PushRequest, *, timeout_s: float) -> int:
    """POST ``request``; returns the HTTP status. Raises: OSError, http.client.HTTPException."""
    parts = urlsplit(request.url)
    connection_cls = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_cls(parts.hostname or "", parts.port, timeout=timeout_s)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=request.body, headers=request.headers)
        response = connection.getresponse()
        response.read()
        return int(response.status)
    finally:
        connection.close()


@dataclass
class PushState:
    """Pacing and counters of one push subscription (guarded by :attr:`PushDelivery._lock`)."""

    window: int = INITIAL_WINDOW
    failures: int = 0
    paused_until_s: float = 0.0
    pushed: int = 0
    acked: int = 0
    nacked: int = 0
    last_status: int | None = None
    last_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The counters as JSON-ready values (the admin endpoint's view)."""
        return {
            "window": self.window,
            "consecutive_failures": self.failures,
            "paused_until_s": self.paused_until_s,
            "pushed": self.pushed,
            "acked": self.acked,
            "nacked": self.nacked,
            "last_status": self.last_status,
            "last_error": self.last_error,
        }


class PushDelivery:
    """Runs push delivery for every subscription that has a push endpoint.

    Args:
        broker: the broker whose subscriptions are pushed.
        signer: makes the OIDC tokens of authenticated push subscriptions.
        senders: HTTP requests in flight at most, over all subscriptions.
    """

    def __init__(self, broker: Broker, *, signer: TokenSigner, senders: int = 64) -> None:
        self._broker = broker
        self._signer = signer
        self._senders = senders
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._workers: dict[str, threading.Thread] = {}
        self._states: dict[str, PushState] = {}

    def start(self) -> None:
        """Start pushing (every current push subscription, and later ones via :meth:`ensure`)."""
        with self._broker.lock:
            self._pool = ThreadPoolExecutor(self._senders, thread_name_prefix="pubsub-push")
            for name, _, _ in list(self._broker.iter_subscriptions()):
                self.ensure(name)

    def stop(self) -> None:
        """Stop the workers (the broker must be stopping) and drop queued requests."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        for worker in list(self._workers.values()):
            worker.join(timeout=5)

    def ensure(self, name: str) -> None:
        """Start a worker for ``name`` if it is an attached push subscription without one
        (caller holds the broker's lock)."""
        if self._pool is None or name in self._workers or self._broker.stopping:
            return
        if not self._active(name):
            return
        worker = threading.Thread(
            target=self._run, args=(name,), name=f"pubsub-push-{len(self._workers)}", daemon=True
        )
        self._workers[name] = worker
        with self._lock:
            self._states.setdefault(name, PushState())
        worker.start()

    def _active(self, name: str) -> bool:
        sub = self._broker.subscription_record(name)
        return bool(sub and sub.config.push_config.push_endpoint and not sub.config.detached)

    def stats(self, name: str) -> dict[str, Any] | None:
        """Pacing and counters of a push subscription (``None`` when it never pushed)."""
        with self._lock:
            state = self._states.get(name)
            return state.to_dict() if state is not None else None

    # -- the worker -----------------------------------------------------------------------

    def _run(self, name: str) -> None:
        broker = self._broker
        stream: StreamState | None = None
        finished = False
        try:
            with broker.lock:
                sub = broker.subscription_record(name)
                if sub is None:
                    return
                endpoint = sub.config.push_config.push_endpoint
                stream = broker.open_stream(
                    name,
                    client_id="push",
                    ack_deadline_s=float(sub.config.ack_deadline_seconds),
                    max_messages=0,
                    max_bytes=0,
                    peer=endpoint,
                )
            self._loop(name, stream)
            finished = True
        except StatusError as err:
            log.info("pubsub_push_stopped", subscription=name, reason=str(err))
        except Exception:
            log.exception("pubsub_push_worker_failed", subscription=name)
        finally:
            with broker.lock:
                self._workers.pop(name, None)
                if stream is not None:
                    broker.close_stream(stream, reason="push stopped")
                if finished and not broker.stopping:
                    self.ensure(name)  # the config may have changed back while we stopped

    def _loop(self, name: str, stream: StreamState) -> None:
        broker = self._broker
        state = self._states[name]
        while True:
            with broker.lock:
                sub = broker.subscription_record(name)
                if sub is None or broker.stopping or not self._active(name) or not stream.open:
                    return
                with self._lock:
                    pause_s = state.paused_until_s - broker.now_s()
                    room = state.window - stream.outstanding_messages
                if pause_s > 0:
                    sub.cond.wait(min(pause_s, WAIT_SLICE_S))
                    continue
                received = broker.take_push(name, stream, room)
                if not received:
                    sub.cond.wait(WAIT_SLICE_S)
                    continue
                push_config = type(sub.config.push_config)()
                push_config.CopyFrom(sub.config.push_config)
                with_attempt = sub.config.HasField("dead_letter_policy")
                timeout_s = float(sub.config.ack_deadline_seconds)
            pool = self._pool
            if pool is None:
                return
            for item in received:
                pool.submit(self._deliver, name, push_config, item, with_attempt, timeout_s)

    def _deliver(
        self, name: str, push_config: Any, received: Any, with_attempt: bool, timeout_s: float
    ) -> None:
        broker = self._broker
        token = ""
        if push_config.HasField("oidc_token"):
            oidc = push_config.oidc_token
            token = self._signer.token(
                audience=oidc.audience or push_config.push_endpoint,
                email=oidc.service_account_email,
                now_s=broker.now_s(),
            )
        request = build_push_request(
            name, push_config, received, with_attempt=with_attempt, token=token
        )
        status: int | None = None
        error = ""
        try:
            status = post(request, timeout_s=timeout_s)
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status in SUCCESS_CODES
        self._record(name, ok=ok, status=status, error=error)
        try:
            if ok:
                broker.acknowledge(name, [received.ack_id])
            else:
                broker.modify_ack_deadline(name, [received.ack_id], 0)
        except StatusError:
            pass  # the subscription went away meanwhile
        if not ok:
            log.info(
                "pubsub_push_failed",
                subscription=name,
                message_id=received.message.message_id,
                status=status,
                error=error,
            )

    def _record(self, name: str, *, ok: bool, status: int | None, error: str) -> None:
        with self._lock:
            state = self._states.setdefault(name, PushState())
            state.pushed += 1
            state.last_status, state.last_error = status, error
            if ok:
                state.acked += 1
                state.failures = 0
                state.window = min(MAX_WINDOW, state.window + 1)
                return
            state.nacked += 1
            state.failures += 1
            state.window = max(1, state.window // 2)
            backoff_s = min(MAX_BACKOFF_S, MIN_BACKOFF_S * 2 ** min(state.failures - 1, 20))
            state.paused_until_s = self._broker.now_s() + backoff_s
