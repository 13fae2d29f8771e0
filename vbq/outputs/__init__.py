"""Read a finished Vertex job's outputs: list its files, stream its rows in bounded memory.

Core (no role): the subscriber actions (:mod:`vbq.subscribers.actions`, which re-exports these
names) and the console (:mod:`vbq.producers.console`) both read outputs through it.
"""

from vbq.outputs.bigquery import bigquery_tables, iter_bigquery_rows
from vbq.outputs.files import (
    OutputFile,
    iter_gemini_rows,
    iter_output_files,
    iter_predictions,
    job_of,
    output_directory,
    readable_job,
    storage_client,
)
from vbq.outputs.gemini import GeminiRow, TokenUsage, is_gemini_row
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
    "GeminiRow",
    "OutputFile",
    "TokenUsage",
    "bigquery_tables",
    "is_gemini_row",
    "iter_bigquery_rows",
    "iter_csv_rows",
    "iter_gemini_rows",
    "iter_jsonl_rows",
    "iter_lines",
    "iter_output_files",
    "iter_predictions",
    "job_of",
    "output_directory",
    "readable_job",
    "storage_client",
]
