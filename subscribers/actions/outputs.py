"""Moved to :mod:`vbq.outputs.files` (the core); re-exported here for existing imports."""

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

__all__ = [
    "OutputFile",
    "iter_gemini_rows",
    "iter_output_files",
    "iter_predictions",
    "job_of",
    "output_directory",
    "readable_job",
    "storage_client",
]
