"""Moved to :mod:`vbq.outputs.readers` (the core); re-exported here for existing imports."""

from vbq.outputs.readers import (
    DEFAULT_CHUNK_SIZE_BYTES,
    DEFAULT_MAX_LINE_BYTES,
    BinaryReader,
    iter_csv_rows,
    iter_jsonl_rows,
    iter_lines,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE_BYTES",
    "DEFAULT_MAX_LINE_BYTES",
    "BinaryReader",
    "iter_csv_rows",
    "iter_jsonl_rows",
    "iter_lines",
]
