"""Rows of a job whose output went to BigQuery (``outputInfo.bigqueryOutputTable``).

google-cloud-bigquery is imported only when such a job is read (the ``bigquery`` extra). Rows
are paged with ``Client.list_rows`` (``tabledata.list``), so memory holds one page. No BigQuery
emulator exists here: this module is unit-tested against a fake client only.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from vbq.errors import OutputsError

__all__ = ["DEFAULT_PAGE_SIZE", "ERRORS_TABLE", "bigquery_tables", "iter_bigquery_rows"]

DEFAULT_PAGE_SIZE = 1000
"""Rows per ``tabledata.list`` page."""

ERRORS_TABLE = "errors"
"""The table Vertex writes failed instances to, beside the predictions table."""


def bigquery_tables(job: Mapping[str, Any], *, include_errors: bool = False) -> list[str]:
    """Fully qualified ``project.dataset.table`` ids to read, predictions first.

    Raises:
        OutputsError: ``outputInfo`` names no BigQuery dataset or table.
    """
    info = job.get("outputInfo") or {}
    dataset = str(info.get("bigqueryOutputDataset") or "").removeprefix("bq://")
    table = str(info.get("bigqueryOutputTable") or "")
    if not dataset or not table:
        raise OutputsError(f"job {job.get('name', '?')} has no BigQuery output table")
    if dataset.count(".") != 1:
        raise OutputsError(f"bigqueryOutputDataset {dataset!r} is not project.dataset")
    tables = [f"{dataset}.{table}"]
    if include_errors:
        tables.append(f"{dataset}.{ERRORS_TABLE}")
    return tables


def iter_bigquery_rows(
    job: Mapping[str, Any],
    *,
    include_errors: bool = False,
    client: Any = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Iterator[dict[str, Any]]:
    """Stream the rows of the job's BigQuery output table(s) as plain dicts.

    Args:
        job: a readable job resource (the caller checked its state).
        include_errors: also read the ``errors`` table (skipped when it does not exist:
            Vertex creates it only when some instance failed).
        client: a ``google.cloud.bigquery.Client`` (default: one for the dataset's project,
            Application Default Credentials).
        page_size: rows per page.

    Raises:
        OutputsError: no table named or google-cloud-bigquery missing (at call time); the
            read failed (while iterating).
    """
    tables = bigquery_tables(job, include_errors=include_errors)
    if client is None:
        try:
            # By name: a static import would make mypy resolve the google.cloud namespace
            # through google-cloud-bigquery's stubs and lose every other google.cloud module.
            bigquery = importlib.import_module("google.cloud.bigquery")
        except ImportError:
            raise OutputsError(
                "reading BigQuery output needs google-cloud-bigquery: "
                "pip install 'vertex-batch-queue[bigquery]'"
            ) from None
        client = bigquery.Client(project=tables[0].split(".", 1)[0])
    return _rows(client, tables, page_size)


def _rows(client: Any, tables: list[str], page_size: int) -> Iterator[dict[str, Any]]:
    for index, table_id in enumerate(tables):
        try:
            rows = client.list_rows(table_id, page_size=page_size)
            for row in rows:
                yield _row_dict(row)
        except Exception as exc:
            if index > 0 and type(exc).__name__ == "NotFound":
                continue  # no errors table: nothing failed
            if type(exc).__module__.startswith("google."):
                raise OutputsError(f"cannot read {table_id}: {exc}") from exc
            raise


def _row_dict(row: Any) -> dict[str, Any]:
    # bigquery.Row has items(); plain mappings (fakes, dict rows) work the same way.
    if hasattr(row, "items"):
        return dict(row.items())
    raise OutputsError(f"unexpected BigQuery row type {type(row).__name__}")
