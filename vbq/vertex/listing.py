"""Listing batch prediction jobs: one page (``batchPredictionJobs.list``), or every page.

A mixin of :class:`vbq.vertex.VertexClient`; the pages are the JSON resources exactly as Google
sends them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from vbq.errors import VertexRetryableError
from vbq.vertex.names import check_api_version, check_name
from vbq.vertex.transport import RestSession

__all__ = ["JobListing", "ListPage"]


@dataclass(frozen=True)
class ListPage:
    """One page of ``batchPredictionJobs.list``.

    Attributes:
        jobs: the job resources of this page, as Google sent them.
        next_page_token: pass to the next call; empty on the last page.
    """

    jobs: list[dict[str, Any]] = field(default_factory=list)
    next_page_token: str = ""


class JobListing:
    """``list_batch_prediction_jobs`` and ``iter_batch_prediction_jobs`` over a REST session."""

    _rest: RestSession

    def list_batch_prediction_jobs(
        self,
        parent: str,
        *,
        filter: str = "",  # Google's parameter name, as in the contract
        page_size: int = 100,
        page_token: str = "",
        read_mask: str = "",
        api_version: str = "v1",
        timeout_s: float | None = None,
    ) -> ListPage:
        """One page of jobs (``GET /v1/{parent}/batchPredictionJobs``).

        Args:
            parent: ``projects/P/locations/L``.
            filter: Google's list filter (``labels.vbq-submission=ID``, ``state=...``).
            page_size: jobs per page (Google's maximum is undocumented: keep it <= 100).
            page_token: ``next_page_token`` of the previous page; empty for the first.
            read_mask: comma-separated field paths to return (``name,state,labels``).
            api_version: API version of the path.
            timeout_s: timeout of this call in seconds (default: the client's).

        Raises:
            VertexRetryableError: 429, 5xx, timeouts, connection failures.
            VertexPermanentError: a bad filter (400), a malformed parent, ...
        """
        check_name(parent, kind="parent", method="list")
        version = check_api_version(api_version, "list")
        params: dict[str, str] = {"pageSize": str(int(page_size))}
        if filter:
            params["filter"] = filter
        if page_token:
            params["pageToken"] = page_token
        if read_mask:
            params["readMask"] = read_mask
        data = self._rest.call(
            "list",
            "GET",
            f"/{version}/{parent}/batchPredictionJobs",
            routing=("parent", parent),
            params=params,
            timeout_s=timeout_s,
        )
        jobs = data.get("batchPredictionJobs") or []
        token = data.get("nextPageToken") or ""
        if not isinstance(jobs, list) or not isinstance(token, str):
            raise VertexRetryableError(
                "list answered with an unexpected shape", status="UNKNOWN", method="list"
            )
        return ListPage(jobs=jobs, next_page_token=token)

    def iter_batch_prediction_jobs(
        self,
        parent: str,
        *,
        filter: str = "",
        page_size: int = 100,
        read_mask: str = "",
        timeout_s: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every job matching ``filter``, following ``nextPageToken`` through all pages.

        Raises:
            VertexRetryableError: as :meth:`list_batch_prediction_jobs`, also when the server
                hands back the same page token twice (it would loop forever).
            VertexPermanentError: as :meth:`list_batch_prediction_jobs`.
        """
        token = ""
        seen: set[str] = set()
        while True:
            page = self.list_batch_prediction_jobs(
                parent,
                filter=filter,
                page_size=page_size,
                page_token=token,
                read_mask=read_mask,
                timeout_s=timeout_s,
            )
            yield from page.jobs
            token = page.next_page_token
            if not token:
                return
            if token in seen:
                raise VertexRetryableError(
                    "list returned a page token twice", status="UNKNOWN", method="list"
                )
            seen.add(token)
