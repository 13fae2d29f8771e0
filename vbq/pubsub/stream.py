"""Google's ``SubscriberClient`` with StreamingPull calls that cannot leave a stream orphaned.

The bug it works around is in google-api-core's ``ResumableBidiRpc`` (the streaming-pull
manager's stream): ``open()`` starts the call, then registers its done-callback, then stores
the call in ``self.call``. gRPC runs a callback registered on a call that has *already ended*
synchronously, inside ``add_done_callback``. A StreamingPull started while Pub/Sub cannot be
reached fails at once, so ``open()`` re-enters itself through ``_on_call_done`` → ``_reopen``
(the lock is re-entrant), throttled to five opens per ten seconds. When Pub/Sub is back, the
innermost ``open()`` starts a live call and stores it; then every outer frame overwrites
``self.call`` with its own dead call. The client reads only ``self.call``, so it soon opens
another live stream, and the first one is never read nor cancelled: Pub/Sub keeps leasing
messages to it (same client id, flow control of its own), nobody modacks them, and each
redelivery after the ack deadline may go to that stream again. With message ordering, the
ordering keys of those messages are blocked meanwhile (found by the chaos suite: a subscriber
process started during a Pub/Sub outage).

:class:`SubscriberClient` wraps each StreamingPull call so that a done-callback registered
on a call that has already ended is not run at all (gRPC would run it inside
``add_done_callback``, where the re-entry starts). Nothing is lost: ``open()`` stores the
dead call, and whoever uses it next finds it ended through the call itself and goes through
api-core's ``_recoverable``, which makes the same decisions as the callback (reopen,
throttled, on a retryable error; finalize the stream on a terminating one), one open at a
time: the consumer thread's ``recv()`` (it is always reading or about to read the current call,
unless paused by flow control, and then it reads again when it resumes) or the heartbeater's
``send()``: a reopen that finds Pub/Sub still down while the consumer is paused waits for the
consumer to resume or for the next heartbeat (at most 30 s). A callback for a call that ends
later runs as usual, on gRPC's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from google.cloud import pubsub_v1

__all__ = ["StreamingPullCall", "SubscriberClient"]


class StreamingPullCall:
    """A StreamingPull call whose done-callbacks never run inside :meth:`add_done_callback`.

    Everything else is the wrapped call's (api-core's response iterator around gRPC's call).
    Its private attributes are not passed through, so api-core registers callbacks here rather
    than on the inner gRPC call (it looks for ``_wrapped``).
    """

    def __init__(self, call: Any) -> None:
        self._call = call

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        """Call ``fn(grpc_call)`` when the call ends, unless it has ended already (then never:
        the caller finds out from the call itself, see the module docstring)."""
        inner = getattr(self._call, "_wrapped", self._call)
        caller = threading.get_ident()
        registering = True

        def run(future: Any) -> None:
            if registering and threading.get_ident() == caller:
                return  # gRPC runs it synchronously: the call ended before this registration
            fn(future)

        inner.add_done_callback(run)
        registering = False

    def __iter__(self) -> StreamingPullCall:
        return self

    def __next__(self) -> Any:
        return next(self._call)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._call, name)


class SubscriberClient(pubsub_v1.SubscriberClient):  # type: ignore[misc]
    """``google.cloud.pubsub_v1.SubscriberClient`` whose ``subscribe()`` streams cannot be
    orphaned by a reconnect (see the module docstring). Same constructor and methods."""

    def streaming_pull(self, *args: Any, **kwargs: Any) -> Any:
        """Google's ``streaming_pull``, wrapped in :class:`StreamingPullCall`."""
        return StreamingPullCall(super().streaming_pull(*args, **kwargs))
