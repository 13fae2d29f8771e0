"""``vbq emulator gcs`` works with Google's storage client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from tests.integration.emulators.helpers import new_bucket
from tests.support.emulators import GcsEmulator

pytestmark = pytest.mark.integration


def test_bucket_upload_list_download(storage_client: Any) -> None:
    bucket = new_bucket(storage_client)
    bucket.blob("dir/a.txt").upload_from_string(b"alpha")
    bucket.blob("dir/b.txt").upload_from_string(b"beta")
    bucket.blob("other.txt").upload_from_string(b"gamma")
    names = [b.name for b in storage_client.list_blobs(bucket.name, prefix="dir/")]
    assert names == ["dir/a.txt", "dir/b.txt"]
    assert storage_client.bucket(bucket.name).blob("dir/b.txt").download_as_bytes() == b"beta"
    assert bucket.name in [b.name for b in storage_client.list_buckets()]


def test_data_dir_keeps_objects_across_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    first = GcsEmulator(tmp_path / "logs", data_dir=data_dir).start()
    try:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", first.host)
        client = storage.Client(project="t", credentials=AnonymousCredentials())
        client.create_bucket("kept").blob("x.txt").upload_from_string(b"persisted")
    finally:
        first.stop()
    second = GcsEmulator(tmp_path / "logs", data_dir=data_dir).start()
    try:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", second.host)
        client = storage.Client(project="t", credentials=AnonymousCredentials())
        assert client.bucket("kept").blob("x.txt").download_as_bytes() == b"persisted"
    finally:
        second.stop()
