"""Reading job inputs and writing job outputs: Cloud Storage (``gs://``) or local files.

``gs://`` goes through google-cloud-storage, which honours ``STORAGE_EMULATOR_HOST`` exactly
as it does for users (set it to point at ``vbq emulator gcs``). ``file://`` URIs and absolute
paths read and write the local disk. A ``*`` in the object name matches any characters, as
Google allows for ``gcsSource.uris``.
"""

from __future__ import annotations

import fnmatch
import threading
from pathlib import Path
from typing import Any

from vbq_emulators.errors import ApiError
from vbq_emulators.vertex.wire import api_error

__all__ = ["read_objects", "write_object"]

_local = threading.local()


def _client() -> Any:
    # One client per runner thread: the storage client's HTTP session is not shared safely.
    client = getattr(_local, "client", None)
    if client is None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        client = storage.Client(project="vbq-emulator", credentials=anonymous)
        _local.client = client
    return client


def _local_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def _split_gs(uri: str) -> tuple[str, str]:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return bucket, name


def read_objects(uri: str) -> list[tuple[str, bytes]]:
    """The objects ``uri`` names (a wildcard may match several), as ``(uri, bytes)`` pairs.

    Raises:
        ApiError: 404 NOT_FOUND when nothing matches, 400 when storage refuses the read.
    """
    try:
        if uri.startswith("gs://"):
            return _read_gs(uri)
        return _read_local(uri)
    except ApiError:
        raise
    except Exception as exc:  # storage errors of every kind become a job error
        raise api_error(400, f"cannot read {uri}: {type(exc).__name__}: {exc}") from exc


def _read_local(uri: str) -> list[tuple[str, bytes]]:
    path = _local_path(uri)
    if "*" in path.name:
        matches = sorted(p for p in path.parent.glob(path.name) if p.is_file())
        if not matches:
            raise api_error(404, f"no files match {uri}")
        return [(f"file://{p}", p.read_bytes()) for p in matches]
    if not path.is_file():
        raise api_error(404, f"file {uri} not found")
    return [(uri, path.read_bytes())]


def _read_gs(uri: str) -> list[tuple[str, bytes]]:
    bucket_name, name = _split_gs(uri)
    bucket = _client().bucket(bucket_name)
    if "*" not in name:
        blob = bucket.blob(name)
        from google.api_core.exceptions import NotFound

        try:
            return [(uri, blob.download_as_bytes())]
        except NotFound:
            raise api_error(404, f"object {uri} not found") from None
    prefix = name.split("*", 1)[0]
    found = [
        blob
        for blob in _client().list_blobs(bucket_name, prefix=prefix)
        if fnmatch.fnmatchcase(blob.name, name)
    ]
    if not found:
        raise api_error(404, f"no objects match {uri}")
    return [(f"gs://{bucket_name}/{b.name}", b.download_as_bytes()) for b in found]


def write_object(uri: str, data: bytes, *, content_type: str = "application/jsonl") -> None:
    """Write ``data`` to ``uri`` (``gs://`` object or local file; parents are created).

    Raises:
        ApiError: 400 when the write fails (bucket missing, disk error).
    """
    try:
        if uri.startswith("gs://"):
            bucket_name, name = _split_gs(uri)
            blob = _client().bucket(bucket_name).blob(name)
            blob.upload_from_string(data, content_type=content_type)
            return
        path = _local_path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except Exception as exc:
        raise api_error(400, f"cannot write {uri}: {type(exc).__name__}: {exc}") from exc
