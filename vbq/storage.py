"""Cloud Storage for the core: streaming lines with their byte offsets, ranged reads, writes.

The packer writes packed inputs and split parts through a resumable upload
(``blob.open("wb")``), a chunk at a time; the unpacker and the splitter read objects a chunk at
a time with ranged GETs, so memory stays flat whatever the object size. ``STORAGE_EMULATOR_HOST``
is honoured as google-cloud-storage honours it (anonymous credentials then).
"""

from __future__ import annotations

import fnmatch
import os
import queue
import threading
from collections.abc import Iterator
from typing import Any

__all__ = [
    "CHUNK_BYTES",
    "iter_lines",
    "list_objects",
    "read_range",
    "split_gs",
    "storage_client",
    "write_bytes",
    "writer",
]

CHUNK_BYTES = 8 * 1024 * 1024
"""Bytes per ranged read and per resumable-upload chunk (a multiple of 256 KiB)."""

_local = threading.local()


def storage_client() -> Any:
    """A google-cloud-storage client for this thread and process (reused)."""
    emulator = os.environ.get("STORAGE_EMULATOR_HOST", "")
    key = (os.getpid(), emulator)
    client = getattr(_local, "client", None)
    if client is None or getattr(_local, "key", None) != key:
        from google.cloud import storage

        if emulator:
            from google.auth.credentials import AnonymousCredentials

            anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
            client = storage.Client(project="vbq", credentials=anonymous)
        else:
            client = storage.Client()
        _local.client, _local.key = client, key
    return client


def split_gs(uri: str) -> tuple[str, str]:
    """``gs://bucket/name`` → ``(bucket, name)``.

    Raises:
        ValueError: not a ``gs://`` URI with a bucket.
    """
    if not uri.startswith("gs://"):
        raise ValueError(f"not a gs:// uri: {uri!r}")
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri!r}")
    return bucket, name


def list_objects(uri: str, *, client: Any = None) -> list[Any]:
    """The blobs ``uri`` names, sorted by name: one object, or every match of ``*`` wildcards
    in the object name (as Vertex reads ``gcsSource.uris``). Missing objects are left out."""
    client = client or storage_client()
    bucket, name = split_gs(uri)
    if "*" not in name:
        blob = client.bucket(bucket).get_blob(name)
        return [blob] if blob is not None else []
    prefix = name.split("*", 1)[0]
    found = [
        b for b in client.list_blobs(bucket, prefix=prefix) if fnmatch.fnmatchcase(b.name, name)
    ]
    return sorted(found, key=lambda b: b.name)


def _chunks(blob: Any, chunk_bytes: int, ahead: int) -> Iterator[bytes]:
    """The object's bytes, ``chunk_bytes`` at a time, read by a thread up to ``ahead`` chunks
    in advance (the download overlaps the caller's parsing; memory stays bounded)."""
    done = object()
    slots: queue.Queue[Any] = queue.Queue(maxsize=max(1, ahead))
    stop = threading.Event()

    def reader() -> None:
        try:
            with blob.open("rb", chunk_size=chunk_bytes) as stream:
                while not stop.is_set():
                    chunk = stream.read(chunk_bytes)
                    if not chunk:
                        break
                    slots.put(chunk)
            slots.put(done)
        except BaseException as exc:  # handed to the caller, raised there
            slots.put(exc)

    thread = threading.Thread(target=reader, name="vbq-storage-read", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # let the reader see `stop` even if it waits on a full queue
            try:
                slots.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


def iter_lines(
    blob: Any, *, chunk_bytes: int = CHUNK_BYTES, ahead: int = 2
) -> Iterator[tuple[int, bytes]]:
    """``(byte offset, line)`` of every line of ``blob`` (newline removed; a last line without
    one included), read ``chunk_bytes`` at a time, ``ahead`` chunks prefetched."""
    offset = 0
    pending = b""
    for chunk in _chunks(blob, chunk_bytes, ahead):
        data = pending + chunk if pending else chunk
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            yield offset, data[start:end]
            offset += end - start + 1
            start = end + 1
        pending = data[start:]
    if pending:
        yield offset, pending


def read_range(uri: str, offset: int, length: int, *, client: Any = None) -> bytes:
    """``length`` bytes of the object at ``offset`` (one ranged GET)."""
    bucket, name = split_gs(uri)
    blob = (client or storage_client()).bucket(bucket).blob(name)
    data: bytes = blob.download_as_bytes(start=offset, end=offset + length - 1)
    return data


def writer(uri: str, *, content_type: str = "application/jsonl", client: Any = None) -> Any:
    """A binary file object writing ``uri`` by resumable upload (close it to finish)."""
    bucket, name = split_gs(uri)
    blob = (client or storage_client()).bucket(bucket).blob(name, chunk_size=CHUNK_BYTES)
    return blob.open("wb", content_type=content_type, ignore_flush=True)


def write_bytes(
    uri: str, data: bytes, *, content_type: str = "application/jsonl", client: Any = None
) -> None:
    """Write a small object whole (one upload request; replaces an existing one)."""
    bucket, name = split_gs(uri)
    blob = (client or storage_client()).bucket(bucket).blob(name)
    blob.upload_from_string(data, content_type=content_type)
