"""Fakes for unit tests of the actions: storage blobs and a BigQuery client."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any


class CountingReader(io.BytesIO):
    """A BytesIO that records the sizes asked of ``read``."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.sizes: list[int] = []

    def read(self, size: int | None = -1, /) -> bytes:
        self.sizes.append(-1 if size is None else size)
        return super().read(size)


class FakeBlob:
    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self.data = data
        self.size = len(data)
        self.opened_with: list[dict[str, Any]] = []

    def open(self, mode: str, **kwargs: Any) -> CountingReader:
        assert mode == "rb"
        self.opened_with.append(kwargs)
        return CountingReader(self.data)

    def download_as_bytes(self) -> bytes:  # pragma: no cover - must never be called
        raise AssertionError("outputs must stream, not download whole files")


class FakeStorage:
    def __init__(self, blobs: dict[str, dict[str, bytes]]) -> None:
        self.buckets = {b: [FakeBlob(n, d) for n, d in objs.items()] for b, objs in blobs.items()}
        self.listed: list[tuple[str, str]] = []

    def list_blobs(self, bucket: str, prefix: str = "") -> Iterator[FakeBlob]:
        self.listed.append((bucket, prefix))
        return iter([b for b in self.buckets.get(bucket, []) if b.name.startswith(prefix)])


class NotFound(Exception):
    """Named like google.api_core.exceptions.NotFound."""


NotFound.__module__ = "google.api_core.exceptions"


class FakeBigQuery:
    def __init__(self, tables: dict[str, list[dict[str, Any]]]) -> None:
        self.tables = tables
        self.calls: list[tuple[str, int]] = []

    def list_rows(self, table_id: str, *, page_size: int) -> Iterator[dict[str, Any]]:
        self.calls.append((table_id, page_size))
        if table_id not in self.tables:
            raise NotFound(f"table {table_id} not found")
        return iter(self.tables[table_id])
