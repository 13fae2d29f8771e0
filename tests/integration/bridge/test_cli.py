"""The real ``vbq bridge`` process: an upload to the storage emulator, announced with
``vbq bridge notify``, becomes one submission per generation; a request message becomes one
submission; SIGTERM stops the process cleanly."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.api_core import exceptions as gexc

from tests.integration.bridge.conftest import PROJECT, stored_records, valid_request, wait_until
from tests.support.emulators import GcsEmulator
from tests.support.services import ManagedProcess, vbq_argv
from vbq.producers.bridge import publish_object_notification
from vbq.pubsub.admin import publisher_client, subscriber_client
from vbq.settings import Settings

pytestmark = pytest.mark.integration


def _notify(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        vbq_argv("bridge", "notify", *args),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_bridge_process_end_to_end(
    tmp_path: Path,
    redis_url: str,
    shared_pubsub_host: str,
    gcs_emulator: GcsEmulator,
    storage_client: Any,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    bucket_name = f"bridge-cli-{suffix}"
    bucket = storage_client.create_bucket(bucket_name)
    blob = bucket.blob("incoming/2024/a.jsonl")
    blob.metadata = {"team": "Risk Team"}
    blob.upload_from_string(b'{"request": {}}\n')
    rules_file = tmp_path / "rules.yaml"
    rules = yaml.safe_load((Path(__file__).parents[3] / "examples/bridge-rules.yaml").read_text())
    rules["notifications"] = {"topic": f"gcs-{suffix}", "subscription": f"gcs-{suffix}-sub"}
    rules_file.write_text(yaml.safe_dump(rules))
    env = {
        "VBQ_REDIS_URL": redis_url,
        "VBQ_BROKER_URL": redis_url,
        "VBQ_PROJECT": PROJECT,
        "VBQ_DEAD_LETTER_TOPIC": f"dl-{suffix}",
        "PUBSUB_EMULATOR_HOST": shared_pubsub_host,
        "STORAGE_EMULATOR_HOST": gcs_emulator.host,
        "VBQ_LOG_FORMAT": "json",
        "VBQ_SHUTDOWN_GRACE_S": "5",
    }
    settings = Settings.from_env(env)
    proc = ManagedProcess(
        f"bridge-{suffix}",
        vbq_argv(
            "bridge",
            "--rules",
            str(rules_file),
            "--subscription",
            f"req-{suffix}-sub",
            "--topic",
            f"req-{suffix}",
            "--create",
        ),
        log_dir=tmp_path,
        env=env,
    ).start()
    try:
        subscriber = subscriber_client(settings)

        def ready() -> bool:
            try:
                for sub in (f"gcs-{suffix}-sub", f"req-{suffix}-sub"):
                    subscriber.get_subscription(
                        request={"subscription": f"projects/{PROJECT}/subscriptions/{sub}"}
                    )
            except gexc.NotFound:
                return False
            return proc.alive()

        assert wait_until(ready, 30), proc.log_text()
        subscriber.close()
        child_env = {**proc.env}
        _notify(
            child_env, "--rules", str(rules_file), "--bucket", bucket_name, "--object", blob.name
        )
        # Google may announce a generation twice; the second must not submit again. (In
        # process: another CLI start costs seconds on a busy machine.)
        publish_object_notification(
            settings, topic=f"gcs-{suffix}", bucket=bucket_name, name=blob.name
        )
        assert wait_until(lambda: len(stored_records(redis_url)) == 1, 30), proc.log_text()

        blob.upload_from_string(b'{"request": {"v": 2}}\n')  # a new generation
        publish_object_notification(
            settings, topic=f"gcs-{suffix}", bucket=bucket_name, name=blob.name
        )
        publisher = publisher_client(settings, enable_message_ordering=False)
        publisher.publish(
            f"projects/{PROJECT}/topics/req-{suffix}",
            json.dumps(valid_request(1, tenant="cli-tenant")).encode(),
        ).result(timeout=30)
        publisher.stop()
        assert wait_until(lambda: len(stored_records(redis_url)) == 3, 30), proc.log_text()
    finally:
        code = proc.stop(timeout_s=20)
    assert code == 0, proc.log_text()

    records = stored_records(redis_url)
    by_tenant: dict[str, list[dict[str, str]]] = {}
    for r in records:
        by_tenant.setdefault(r["tenant"], []).append(r)
    assert len(by_tenant["cli-tenant"]) == 1
    gcs = by_tenant["default"]
    generations = sorted(json.loads(r["metadata"])["gcs"]["generation"] for r in gcs)
    assert len(set(generations)) == 2
    spec = json.loads(gcs[0]["spec"])
    assert spec["gcs_source"] == [f"gs://{bucket_name}/incoming/2024/a.jsonl"]
    assert spec["labels"]["team"] == "risk-team"  # the object's own metadata, sanitized
    final = json.loads(proc.log_text().strip().splitlines()[-1])["bridge"]
    assert final["submitted"] == 3 and final["replayed"] == 1 and final["outstanding"] == 0
