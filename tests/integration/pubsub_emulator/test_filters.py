"""A filtered subscription sees only its matches; bad or changed filters are refused."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import pubsub_v1

from tests.integration.pubsub_emulator.helpers import Collector, names, publisher

pytestmark = pytest.mark.integration

ATTRS = [
    {"event_type": "job.succeeded", "tenant": "acme"},
    {"event_type": "job.failed", "tenant": "acme"},
    {"event_type": "job.succeeded", "tenant": "other"},
    {"event_type": "task.done", "tenant": "acme", "skip": "1"},
    {"tenant": "acme"},
]


def test_filtered_subscription_sees_only_matches(shared_pubsub_host: str) -> None:
    topic, everything = names("filter")
    filtered = everything + "-jobs"
    pub = publisher()
    subscriber = pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    subscriber.create_subscription(request={"name": everything, "topic": topic})
    expression = (
        'hasPrefix(attributes.event_type, "job.") AND '
        '(attributes.tenant = "acme" OR attributes.event_type = "job.succeeded") '
        "AND NOT attributes:skip"
    )
    created = subscriber.create_subscription(
        request={"name": filtered, "topic": topic, "filter": expression}
    )
    assert created.filter == expression
    for i, attrs in enumerate(ATTRS * 4):
        pub.publish(topic, f"{i}".encode(), **attrs)
    pub.stop()  # flushes every batch
    got_all, got_filtered = Collector(), Collector()
    streams = [
        subscriber.subscribe(everything, got_all),
        subscriber.subscribe(filtered, got_filtered),
    ]
    try:
        assert got_all.wait_for(lambda ms: len(ms) >= 20, timeout_s=20)
        assert got_filtered.wait_for(lambda ms: len(ms) >= 12, timeout_s=20)
        # Nothing beyond the matches trickles in later.
        assert not got_filtered.wait_for(lambda ms: len(ms) > 12, timeout_s=1.0)
    finally:
        for stream in streams:
            stream.cancel()
            stream.result(timeout=10)
    kinds = sorted(
        (m.attributes["event_type"], m.attributes["tenant"]) for m in got_filtered.snapshot()
    )
    assert kinds == sorted(
        [("job.succeeded", "acme"), ("job.failed", "acme"), ("job.succeeded", "other")] * 4
    )


def test_invalid_filter_is_refused(shared_pubsub_host: str) -> None:
    topic, sub = names("badfilter")
    publisher().create_topic(name=topic)
    subscriber = pubsub_v1.SubscriberClient()
    with pytest.raises(exceptions.InvalidArgument):
        subscriber.create_subscription(
            request={"name": sub, "topic": topic, "filter": "attributes.k = unquoted"}
        )
    with pytest.raises(exceptions.InvalidArgument):
        subscriber.create_subscription(
            request={
                "name": sub,
                "topic": topic,
                "filter": "attributes:a AND attributes:b OR attributes:c",
            }
        )


def test_filter_cannot_be_changed(shared_pubsub_host: str) -> None:
    topic, sub = names("fixedfilter")
    publisher().create_topic(name=topic)
    subscriber = pubsub_v1.SubscriberClient()
    subscriber.create_subscription(request={"name": sub, "topic": topic, "filter": "attributes:a"})
    with pytest.raises(exceptions.InvalidArgument):
        subscriber.update_subscription(
            request={
                "subscription": {"name": sub, "filter": "attributes:b"},
                "update_mask": {"paths": ["filter"]},
            }
        )
    assert subscriber.get_subscription(subscription=sub).filter == "attributes:a"
