"""The submissions page: filters from the query string, one page of results.

Filters: tenant (admin only; a tenant key is always limited to its own), state, label
``key=value``, model, created from / to (UTC), and a search box that takes a submission id
(exact) or the start of a display name. Pages are keyset pages over the store's indexes
(:func:`vbq.store.query_page`), so page 1,000 costs what page 1 costs; a rare filter returns
short pages with "continue" instead of reading the whole store in one request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urlencode

from vbq.errors import NotFoundError, StoreError
from vbq.producers.console.session import Viewer
from vbq.spec.model import DEFAULT_DISPLAY_NAME_PREFIX
from vbq.states import SubmissionState
from vbq.store import JobStore, SubmissionQuery, SubmissionRecord, query_page
from vbq.store.counts import read_counts

__all__ = ["PAGE_SIZE", "Filters", "ListResult", "display_name", "parse_filters", "run_list"]

PAGE_SIZE = 50
_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_MAX_TEXT = 200


@dataclass(frozen=True, kw_only=True)
class Filters:
    """The filters as typed (strings; empty = not set)."""

    tenant: str = ""
    state: str = ""
    label: str = ""
    model: str = ""
    created_from: str = ""
    created_to: str = ""
    q: str = ""

    @property
    def active(self) -> bool:
        """True when any filter is set."""
        return any(asdict(self).values())

    def query_string(self, **extra: str | int) -> str:
        """URL query of these filters plus ``extra`` (empty values left out)."""
        params = {k: v for k, v in {**asdict(self), **extra}.items() if v not in ("", None)}
        return urlencode(params)


@dataclass(frozen=True, kw_only=True)
class ListResult:
    """One rendered page of the submissions list.

    Attributes:
        filters: as typed.
        errors: field -> what is wrong with it (nothing was searched when not empty).
        records: the page.
        next_token: the next page's token (None on the last page).
        page_number: 1 for the first page.
        by_name: the page is in display-name order (a name search), not newest first.
        budget_exhausted: the page stopped early (a rare filter): more may follow.
        examined: candidates examined for this page.
        tenants: tenants the viewer may pick (admin: every tenant with submissions).
        states: every submission state, for the state picker.
    """

    filters: Filters
    errors: dict[str, str] = field(default_factory=dict)
    records: list[SubmissionRecord] = field(default_factory=list)
    next_token: str | None = None
    page_number: int = 1
    by_name: bool = False
    budget_exhausted: bool = False
    examined: int = 0
    tenants: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=lambda: [s.value for s in SubmissionState])


def parse_filters(params: Mapping[str, str], viewer: Viewer) -> tuple[Filters, dict[str, str]]:
    """Read and check the filters; a tenant viewer's tenant filter is forced to its tenant.

    Returns:
        ``(filters, errors)``: errors name the field and say what is expected.
    """
    raw = {
        name: str(params.get(name, "")).strip()[:_MAX_TEXT]
        for name in ("tenant", "state", "label", "model", "created_from", "created_to", "q")
    }
    filters = Filters(**raw)
    if not viewer.admin:
        filters = replace(filters, tenant=viewer.tenant)
    errors: dict[str, str] = {}
    if filters.state and filters.state.upper() not in SubmissionState.__members__:
        errors["state"] = "not a submission state"
    if filters.label and ("=" not in filters.label or filters.label.startswith("=")):
        errors["label"] = "use key=value"
    for name in ("created_from", "created_to"):
        value = getattr(filters, name)
        if value and _parse_time(value) is None:
            errors[name] = "use a date and time like 2026-11-26T21:20 (UTC)"
    return filters, errors


def run_list(
    store: JobStore,
    viewer: Viewer,
    filters: Filters,
    errors: dict[str, str],
    *,
    page_token: str | None = None,
    page_number: int = 1,
    page_size: int = PAGE_SIZE,
) -> ListResult:
    """The page of ``filters`` after ``page_token`` as ``viewer`` may see it.

    Raises:
        redis.RedisError: Redis could not be reached.
    """
    tenants = read_counts(store.redis).tenants if viewer.admin else [viewer.tenant]
    base = ListResult(filters=filters, errors=errors, tenants=tenants, page_number=page_number)
    if errors:
        return base
    q = filters.q
    if _ID_RE.fullmatch(q.lower()):
        try:
            record = store.get(q.lower(), tenant=viewer.scope)
        except NotFoundError:
            return base
        return replace(base, records=[record])
    query = _query(filters, tenants)
    try:
        page = query_page(
            store.redis,
            store.get_many,
            query,
            page_size=page_size,
            page_token=page_token or None,
        )
    except StoreError:
        return replace(base, errors={"page": "this page link is no longer valid: start again"})
    return replace(
        base,
        records=page.records,
        next_token=page.next_token,
        by_name=bool(query.name_prefix),
        budget_exhausted=page.budget_exhausted,
        examined=page.examined,
    )


def _query(filters: Filters, tenants: list[str]) -> SubmissionQuery:
    label: tuple[str, str] | None = None
    if filters.label:
        key, _, value = filters.label.partition("=")
        label = (key.strip(), value.strip())
    scope: tuple[str, ...] | None = None
    if filters.tenant:
        scope = (filters.tenant,)
    elif filters.q:
        scope = tuple(tenants)  # a name search walks one name index per tenant
    return SubmissionQuery(
        tenants=scope,
        state=SubmissionState(filters.state.upper()) if filters.state else None,
        label=label,
        model=filters.model or None,
        created_from=_parse_time(filters.created_from),
        created_to=_parse_time(filters.created_to),
        name_prefix=filters.q or None,
    )


def _parse_time(text: str) -> float | None:
    """Epoch seconds of an ISO date or date-time (UTC unless it names an offset)."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def display_name(record: SubmissionRecord) -> str:
    """The job's display name: Vertex's, else the request's, else the default the body gets."""
    job_name = (record.job or {}).get("displayName")
    if isinstance(job_name, str) and job_name:
        return job_name
    if record.spec.job_display_name:
        return record.spec.job_display_name
    return f"{DEFAULT_DISPLAY_NAME_PREFIX} {record.spec.fingerprint()[:16]}"
