"""Parse prediction files row by row from a binary stream, in bounded memory.

A reader is anything with ``read(n) -> bytes`` (``blob.open("rb")``, an open file). Rows are
produced as they are read: memory holds one chunk plus the current line, whatever the file size.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from typing import Any, Protocol

from vbq.errors import OutputsError

__all__ = [
    "DEFAULT_CHUNK_SIZE_BYTES",
    "DEFAULT_MAX_LINE_BYTES",
    "BinaryReader",
    "iter_csv_rows",
    "iter_jsonl_rows",
    "iter_lines",
]

DEFAULT_CHUNK_SIZE_BYTES = 4 * 1024 * 1024
"""Bytes fetched per read (one ranged GET per chunk for Cloud Storage)."""

DEFAULT_MAX_LINE_BYTES = 256 * 1024 * 1024
"""A longer line is refused rather than buffered without bound."""


class BinaryReader(Protocol):
    """The one method the parsers need."""

    def read(self, size: int = -1, /) -> bytes: ...


def iter_lines(
    reader: BinaryReader,
    *,
    chunk_size_bytes: int = DEFAULT_CHUNK_SIZE_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    keepends: bool = False,
) -> Iterator[bytes]:
    """Lines of ``reader`` split on ``\\n``, read ``chunk_size_bytes`` at a time.

    Reading fixed chunks instead of ``readline()`` matters: google-cloud-storage's
    ``BlobReader`` has no ``peek``, so ``readline`` falls back to one ``read(1)`` per byte.

    Raises:
        OutputsError: a line is longer than ``max_line_bytes``.
    """
    if chunk_size_bytes < 1:
        raise ValueError("chunk_size_bytes must be >= 1")
    pending = b""
    while True:
        chunk = reader.read(chunk_size_bytes)
        if not chunk:
            break
        data = pending + chunk if pending else chunk
        lines = data.split(b"\n")
        pending = lines.pop()
        if len(pending) > max_line_bytes:
            raise OutputsError(f"a line is longer than {max_line_bytes} bytes")
        if keepends:
            for line in lines:
                yield line + b"\n"
        else:
            yield from lines
    if pending:
        yield pending


def iter_jsonl_rows(
    reader: BinaryReader,
    *,
    source: str = "",
    chunk_size_bytes: int = DEFAULT_CHUNK_SIZE_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[dict[str, Any]]:
    """JSON objects, one per non-blank line; a non-object value comes as ``{"value": v}``.

    Raises:
        OutputsError: a line is not JSON (names ``source`` and the line number).
    """
    for number, line in enumerate(
        iter_lines(reader, chunk_size_bytes=chunk_size_bytes, max_line_bytes=max_line_bytes),
        start=1,
    ):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise OutputsError(f"{source or 'stream'} line {number}: not JSON: {exc}") from None
        yield value if isinstance(value, dict) else {"value": value}


def iter_csv_rows(
    reader: BinaryReader,
    *,
    source: str = "",
    decode_json_cells: bool = True,
    chunk_size_bytes: int = DEFAULT_CHUNK_SIZE_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[dict[str, Any]]:
    """Rows of a CSV file with a header line, as ``{column: cell}``.

    Args:
        decode_json_cells: cells that parse as JSON become the parsed value (Vertex writes
            ``instance`` and ``prediction`` cells as JSON); others stay strings.

    Raises:
        OutputsError: the CSV is malformed (names ``source``).
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines = (
        decoder.decode(raw)
        for raw in iter_lines(
            reader, chunk_size_bytes=chunk_size_bytes, max_line_bytes=max_line_bytes, keepends=True
        )
    )
    rows = csv.reader(lines)
    try:
        header = next(rows, None)
        if header is None:
            return
        for cells in rows:
            if not cells:
                continue
            values = [_cell(c) for c in cells] if decode_json_cells else list(cells)
            yield dict(zip(header, values, strict=False))
    except csv.Error as exc:
        raise OutputsError(f"{source or 'stream'}: bad CSV: {exc}") from None


def _cell(text: str) -> Any:
    # Only text that looks like a JSON document is parsed, so plain words stay strings fast.
    if not text or text[0] not in '{["-0123456789tfn':
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text
