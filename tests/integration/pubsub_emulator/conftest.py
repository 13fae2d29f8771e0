"""The Pub/Sub emulator fixtures, also when tests/conftest.py does not load the plugin."""

from tests.support.fixtures_pubsub import (
    pubsub_emulator,
    pubsub_emulator_host,
    pubsub_emulator_session,
    shared_pubsub_host,
)

__all__ = [
    "pubsub_emulator",
    "pubsub_emulator_host",
    "pubsub_emulator_session",
    "shared_pubsub_host",
]
