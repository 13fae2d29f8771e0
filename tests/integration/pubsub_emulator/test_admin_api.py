"""Topic and subscription management through Google's clients: results and status codes."""

from __future__ import annotations

import time

import pytest
from google.api_core import exceptions
from google.cloud import pubsub_v1

from tests.integration.pubsub_emulator.helpers import PROJECT, names, publisher

pytestmark = pytest.mark.integration


def test_topic_lifecycle_and_status_codes(shared_pubsub_host: str) -> None:
    pub = publisher()
    subscriber = pubsub_v1.SubscriberClient()
    topic, sub = names("admin")
    created = pub.create_topic(request={"name": topic, "labels": {"team": "vbq"}})
    assert created.name == topic
    assert pub.get_topic(topic=topic).labels["team"] == "vbq"
    with pytest.raises(exceptions.AlreadyExists):
        pub.create_topic(name=topic)
    with pytest.raises(exceptions.NotFound):
        pub.get_topic(topic=topic + "-missing")
    with pytest.raises(exceptions.InvalidArgument):
        pub.create_topic(name=f"projects/{PROJECT}/topics/x")  # ids need 3+ characters
    with pytest.raises(exceptions.NotFound):
        subscriber.create_subscription(request={"name": sub, "topic": topic + "-missing"})
    subscriber.create_subscription(request={"name": sub, "topic": topic})
    with pytest.raises(exceptions.AlreadyExists):
        subscriber.create_subscription(request={"name": sub, "topic": topic})
    assert list(pub.list_topic_subscriptions(topic=topic)) == [sub]
    pub.delete_topic(topic=topic)
    with pytest.raises(exceptions.NotFound):
        pub.publish(topic, b"x").result(timeout=10)
    assert subscriber.get_subscription(subscription=sub).topic == "_deleted-topic_"
    subscriber.delete_subscription(subscription=sub)
    with pytest.raises(exceptions.NotFound):
        subscriber.get_subscription(subscription=sub)


def test_listing_pages_through_everything(shared_pubsub_host: str) -> None:
    pub = publisher()
    subscriber = pubsub_v1.SubscriberClient()
    project = f"list-{time.monotonic_ns()}"
    topics = [f"projects/{project}/topics/topic-{i:02d}" for i in range(7)]
    for name in topics:
        pub.create_topic(name=name)
        subscriber.create_subscription(
            request={"name": name.replace("/topics/", "/subscriptions/"), "topic": name}
        )
    pages = pub.list_topics(request={"project": f"projects/{project}", "page_size": 3}).pages
    listed = [[t.name for t in page.topics] for page in pages]
    assert [len(p) for p in listed] == [3, 3, 1]
    assert [name for page in listed for name in page] == topics
    subs = subscriber.list_subscriptions(request={"project": f"projects/{project}", "page_size": 2})
    assert len(list(subs)) == 7


def test_subscription_defaults_and_updates(shared_pubsub_host: str) -> None:
    pub = publisher()
    subscriber = pubsub_v1.SubscriberClient()
    topic, sub = names("update")
    dead_topic, _ = names("update-dead")
    pub.create_topic(name=topic)
    pub.create_topic(name=dead_topic)
    created = subscriber.create_subscription(request={"name": sub, "topic": topic})
    assert created.ack_deadline_seconds == 10
    assert created.message_retention_duration.total_seconds() == 7 * 24 * 3600
    updated = subscriber.update_subscription(
        request={
            "subscription": {
                "name": sub,
                "ack_deadline_seconds": 30,
                "dead_letter_policy": {"dead_letter_topic": dead_topic},
                "retry_policy": {"minimum_backoff": {"seconds": 2}},
            },
            "update_mask": {
                "paths": ["ack_deadline_seconds", "dead_letter_policy", "retry_policy"]
            },
        }
    )
    assert updated.ack_deadline_seconds == 30
    assert updated.dead_letter_policy.max_delivery_attempts == 5  # Google's default for 0
    assert updated.retry_policy.maximum_backoff.total_seconds() == 600
    assert subscriber.get_subscription(subscription=sub).ack_deadline_seconds == 30
    with pytest.raises(exceptions.InvalidArgument):
        subscriber.update_subscription(
            request={
                "subscription": {
                    "name": sub,
                    "dead_letter_policy": {
                        "dead_letter_topic": dead_topic,
                        "max_delivery_attempts": 101,
                    },
                },
                "update_mask": {"paths": ["dead_letter_policy"]},
            }
        )
    with pytest.raises(exceptions.InvalidArgument):
        subscriber.update_subscription(
            request={
                "subscription": {"name": sub, "enable_message_ordering": True},
                "update_mask": {"paths": ["enable_message_ordering"]},
            }
        )


def test_publish_assigns_ids_time_and_keeps_attributes(shared_pubsub_host: str) -> None:
    pub = publisher(ordering=True)
    subscriber = pubsub_v1.SubscriberClient()
    topic, sub = names("publish")
    pub.create_topic(name=topic)
    subscriber.create_subscription(request={"name": sub, "topic": topic})
    before = time.time()
    response = pub.api.publish(
        topic=topic,
        messages=[
            {"data": b"a", "attributes": {"k": "1"}, "ordering_key": "o"},
            {"data": b"b", "attributes": {"k": "2"}},
            {"attributes": {"only": "attrs"}},
        ],
    )
    ids = list(response.message_ids)
    assert [int(i) for i in ids] == sorted(int(i) for i in ids) and len(set(ids)) == 3
    with pytest.raises(exceptions.InvalidArgument):
        pub.api.publish(topic=topic, messages=[{"data": b""}])
    pulled = subscriber.pull(request={"subscription": sub, "max_messages": 10}, timeout=10)
    by_id = {m.message.message_id: m.message for m in pulled.received_messages}
    assert set(by_id) == set(ids)
    first = by_id[ids[0]]
    assert first.data == b"a" and first.attributes["k"] == "1" and first.ordering_key == "o"
    assert dict(by_id[ids[2]].attributes) == {"only": "attrs"}
    assert before - 1 <= first.publish_time.timestamp() <= time.time() + 1


def test_subscribing_to_a_missing_subscription_fails_with_not_found(
    shared_pubsub_host: str,
) -> None:
    subscriber = pubsub_v1.SubscriberClient()
    _, sub = names("ghost")
    streaming = subscriber.subscribe(sub, lambda m: m.ack())
    with pytest.raises(exceptions.NotFound):
        streaming.result(timeout=20)
