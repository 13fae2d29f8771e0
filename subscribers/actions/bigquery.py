"""Moved to :mod:`vbq.outputs.bigquery` (the core); re-exported here for existing imports."""

from vbq.outputs.bigquery import (
    DEFAULT_PAGE_SIZE,
    ERRORS_TABLE,
    bigquery_tables,
    iter_bigquery_rows,
)

__all__ = ["DEFAULT_PAGE_SIZE", "ERRORS_TABLE", "bigquery_tables", "iter_bigquery_rows"]
