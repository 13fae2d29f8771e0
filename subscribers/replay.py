"""Replay job events: seek the events subscription back, and decide whether handlers rerun.

``Seek`` makes Pub/Sub redeliver: to a time, every event published since that the subscription
still retains (``retain_acked_messages``, which ``--create`` sets; 7 days by default); to a
snapshot, its backlog at creation and everything published since. The redelivered events reach
the subscribers as usual, and the inbox decides:

- by default their ``done`` marks hold: handlers that already ran do not run again (events not
  handled yet run as always);
- with ``rerun=True`` a rerun window is opened first (:meth:`Inbox.set_rerun`): every event
  published between the replay's start and now runs again, once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis as redis_lib
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from vbq.errors import ConfigError, PubSubError
from vbq.logs import get_logger
from vbq.pubsub.admin import subscriber_client
from vbq.settings import Settings
from vbq.subscribers.inbox import Inbox, RerunWindow

__all__ = [
    "ReplayResult",
    "create_snapshot",
    "delete_snapshot",
    "list_snapshots",
    "parse_since",
    "replay",
    "snapshot_path",
]

_log = get_logger("vbq.replay")

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SNAPSHOT_LIFE = timedelta(days=7)


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """A point in time: ISO 8601 (``2026-05-01T12:00:00Z``; no zone = UTC) or an age before
    ``now`` (``90s``, ``15m``, ``2h``, ``3d``).

    Raises:
        ConfigError: neither form.
    """
    now = now or datetime.now(UTC)
    match = _RELATIVE.fullmatch(text.strip())
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS_S[match.group(2)])
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--since: {text!r} is neither an ISO 8601 time nor an age like 15m, 2h, 3d"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def snapshot_path(settings: Settings, name: str) -> str:
    """``projects/P/snapshots/NAME`` (a path is returned as it is)."""
    if name.startswith("projects/"):
        return name
    project = settings.events_subscription_path().split("/")[1]
    return f"projects/{project}/snapshots/{name}"


@dataclass(frozen=True, kw_only=True)
class ReplayResult:
    """What :func:`replay` did.

    Attributes:
        subscription: the subscription sought.
        target: the time (ISO 8601) or snapshot path sought to.
        rerun: the rerun window opened, if any.
        retains_acked: whether the subscription keeps acknowledged messages (without it a
            seek to a time only affects the unacknowledged backlog).
    """

    subscription: str
    target: str
    rerun: RerunWindow | None
    retains_acked: bool


def _client(settings: Settings, client: Any) -> tuple[pubsub_v1.SubscriberClient, bool]:
    return (client, False) if client is not None else (subscriber_client(settings), True)


def replay(
    settings: Settings,
    *,
    redis: redis_lib.Redis,
    since: datetime | None = None,
    snapshot: str = "",
    subscription: str = "",
    group: str = "",
    rerun: bool = False,
    client: pubsub_v1.SubscriberClient | None = None,
) -> ReplayResult:
    """Seek the events subscription to ``since`` or to ``snapshot``.

    Args:
        since: replay events published at or after this time.
        snapshot: replay from this snapshot (name or path) instead.
        subscription: subscription id or path (default ``settings.events_subscription``).
        group: the subscriber group whose inbox decides reruns (default: the subscription id,
            as ``vbq subscribe``).
        rerun: run handlers again for the replayed events (once each).

    Raises:
        ConfigError: neither or both of ``since`` and ``snapshot``.
        PubSubError: the subscription or snapshot does not exist, or Pub/Sub refused.
    """
    if (since is None) == (not snapshot):
        raise ConfigError("replay needs exactly one of --since and --snapshot")
    sub_settings = settings.replace(events_subscription=subscription) if subscription else settings
    path = sub_settings.events_subscription_path()
    pubsub, owned = _client(settings, client)
    try:
        current = pubsub.get_subscription(request={"subscription": path}, timeout=30.0)
        retains = bool(current.retain_acked_messages)
        if snapshot:
            snap = pubsub.get_snapshot(
                request={"snapshot": snapshot_path(settings, snapshot)}, timeout=30.0
            )
            # A snapshot keeps what was unacked at creation and everything published since;
            # its creation is at least expire_time - 7 days ago.
            start = snap.expire_time - SNAPSHOT_LIFE
            target = snap.name
        else:
            assert since is not None
            start, target = since, since.isoformat()
        window = None
        if rerun:
            group_name = group or path.rsplit("/", 1)[-1]
            inbox = Inbox(redis=redis, group=group_name, ttl_s=settings.inbox_ttl_s)
            window = inbox.set_rerun(
                since_s=start.timestamp(), until_s=datetime.now(UTC).timestamp() + 1.0
            )
        request: dict[str, Any] = {"subscription": path}
        request["snapshot" if snapshot else "time"] = target if snapshot else since
        pubsub.seek(request=request, timeout=60.0)
    except gexc.GoogleAPICallError as exc:
        raise PubSubError(f"replay on {path}: {exc}") from exc
    finally:
        if owned:
            pubsub.close()
    if since is not None and not retains:
        _log.warning("replay.acked_not_retained", subscription=path)
    _log.info("replay.sought", subscription=path, target=target, rerun=window is not None)
    return ReplayResult(subscription=path, target=target, rerun=window, retains_acked=retains)


def create_snapshot(
    settings: Settings,
    name: str,
    *,
    subscription: str = "",
    client: pubsub_v1.SubscriberClient | None = None,
) -> Any:
    """Snapshot the events subscription (its backlog now and every later event); returns the
    ``Snapshot``. Raises: PubSubError."""
    sub_settings = settings.replace(events_subscription=subscription) if subscription else settings
    pubsub, owned = _client(settings, client)
    try:
        return pubsub.create_snapshot(
            request={
                "name": snapshot_path(settings, name),
                "subscription": sub_settings.events_subscription_path(),
            },
            timeout=30.0,
        )
    except gexc.GoogleAPICallError as exc:
        raise PubSubError(f"create snapshot {name}: {exc}") from exc
    finally:
        if owned:
            pubsub.close()


def list_snapshots(
    settings: Settings, *, client: pubsub_v1.SubscriberClient | None = None
) -> list[Any]:
    """The project's snapshots. Raises: PubSubError."""
    project = "/".join(settings.events_subscription_path().split("/")[:2])
    pubsub, owned = _client(settings, client)
    try:
        return list(pubsub.list_snapshots(request={"project": project}, timeout=30.0))
    except gexc.GoogleAPICallError as exc:
        raise PubSubError(f"list snapshots: {exc}") from exc
    finally:
        if owned:
            pubsub.close()


def delete_snapshot(
    settings: Settings, name: str, *, client: pubsub_v1.SubscriberClient | None = None
) -> None:
    """Delete a snapshot. Raises: PubSubError."""
    pubsub, owned = _client(settings, client)
    try:
        pubsub.delete_snapshot(request={"snapshot": snapshot_path(settings, name)}, timeout=30.0)
    except gexc.GoogleAPICallError as exc:
        raise PubSubError(f"delete snapshot {name}: {exc}") from exc
    finally:
        if owned:
            pubsub.close()
