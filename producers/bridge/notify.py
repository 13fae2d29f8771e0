"""Publish a Cloud Storage notification the way Google does (``vbq bridge notify``).

Google publishes ``OBJECT_FINALIZE`` to a bucket's notification topic when an object is
written. The local storage emulator does not, so the demo (or a test) calls
:func:`publish_object_notification` after an upload: it reads the object's resource back from
Cloud Storage (the emulator under ``STORAGE_EMULATOR_HOST``) when it can, so generation, size
and custom metadata are the real ones, and otherwise builds a minimal resource.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from vbq.errors import ConfigError, PubSubError
from vbq.producers.bridge.notifications import (
    EVENT_FINALIZE,
    build_notification,
    object_resource,
)
from vbq.producers.bridge.resources import topic_path
from vbq.pubsub.admin import publisher_client
from vbq.settings import Settings

__all__ = ["fetch_object_resource", "publish_object_notification"]


def fetch_object_resource(settings: Settings, bucket: str, name: str) -> dict[str, Any] | None:
    """The JSON API resource of ``gs://bucket/name``, or None when it does not exist.

    Uses the storage emulator when ``settings.storage_emulator_host`` is set (anonymous),
    else Application Default Credentials.

    Raises:
        ConfigError: Cloud Storage could not be reached or refused the read.
    """
    from google.api_core import exceptions as gexc
    from google.cloud import storage

    try:
        if settings.storage_emulator_host:
            from google.auth.credentials import AnonymousCredentials

            client = storage.Client(
                project=settings.project or "vbq-local",
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                client_options={"api_endpoint": settings.storage_emulator_host},
            )
        else:
            client = storage.Client(project=settings.project or None)
        blob = client.bucket(bucket).get_blob(name)
    except gexc.GoogleAPICallError as exc:
        raise ConfigError(f"reading gs://{bucket}/{name}: {exc}") from None
    if blob is None:
        return None
    return dict(blob._properties)


def publish_object_notification(
    settings: Settings,
    *,
    topic: str,
    bucket: str,
    name: str,
    generation: int | None = None,
    event_type: str = EVENT_FINALIZE,
    metadata: Mapping[str, str] | None = None,
    fetch: bool = True,
    timeout_s: float = 30.0,
) -> str:
    """Publish one notification to ``topic``; returns Pub/Sub's message id.

    Args:
        settings: project, Pub/Sub (and storage) emulator hosts.
        topic: the notification topic id or path.
        bucket: bucket name.
        name: object name.
        generation: generation to announce (default: the object's, else now in microseconds,
            which is how Google numbers generations).
        event_type: ``OBJECT_FINALIZE`` (default) or another of Google's event types.
        metadata: custom metadata to put in the resource (merged over the object's).
        fetch: read the object's resource from Cloud Storage first.
        timeout_s: how long to wait for Pub/Sub's confirmation, in seconds.

    Raises:
        ConfigError: the object cannot be read, or no project for the topic path.
        PubSubError: the publish was not confirmed.
        SpecError: an unknown event type.
    """
    resource = fetch_object_resource(settings, bucket, name) if fetch else None
    if resource is None:
        resource = object_resource(
            bucket=bucket, name=name, generation=generation or time.time_ns() // 1000
        )
    if generation is not None:
        resource["generation"] = str(generation)
        resource["id"] = f"{bucket}/{name}/{generation}"
    if metadata:
        resource["metadata"] = {**(resource.get("metadata") or {}), **metadata}
    data, attributes = build_notification(resource, event_type=event_type)
    path = topic_path(settings, topic)
    publisher = publisher_client(settings, enable_message_ordering=False)
    try:
        return str(publisher.publish(path, data, **attributes).result(timeout=timeout_s))
    except Exception as exc:
        raise PubSubError(f"publish to {path} failed: {exc}") from exc
    finally:
        publisher.stop()
