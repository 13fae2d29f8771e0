"""The request store: adding requests to packs and reading them back (Redis, Lua).

``add_many`` runs ``add.lua`` once per 200 requests, 2,000 requests per pipelined round trip
(one thread prepares the next chunk while Redis runs the current one): for each request the
script checks the idempotency fingerprint, assigns it to its group's open pack (sealing a pack
that is full), appends its line and id to the pack and writes the record, atomically. No broker
message is sent per request: the caller triggers one flush per pack that filled.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import redis as redis_lib

from vbq.errors import IdempotencyConflictError, NotFoundError, StoreError
from vbq.redisconn import client_for
from vbq.requests.keys import COUNTS_KEY, PREFIX, pack_key, request_key
from vbq.requests.records import (
    NewRequest,
    PackRecord,
    RequestRecord,
    RequestState,
    decode_pack,
    decode_request,
)
from vbq.settings import Settings

__all__ = ["AddResult", "RequestStore", "pack_group"]

_CHUNK = 2000  # requests per pipeline round trip
_PER_CALL = 200  # requests per Lua call (Lua's unpack() takes a few thousand values at most)


class AddResult:
    """What adding one request did (the record is built only when asked for).

    Attributes:
        request_id: the request's id.
        created: False when the idempotency key was already bound to the same request.
        sealed: pack ids this call sealed because they were full (flush them).
    """

    __slots__ = ("_new", "_record", "_reply", "created", "request_id", "sealed")

    def __init__(self, new: NewRequest, reply: Any, *, created: bool, sealed: tuple[str, ...]):
        self._new = new
        self._reply = reply
        self._record: RequestRecord | None = None
        self.request_id = new.request_id
        self.created = created
        self.sealed = sealed

    @property
    def record(self) -> RequestRecord:
        """The stored request (the existing one for an idempotent replay)."""
        if self._record is None:
            self._record = _record(self._new, self._reply)
        return self._record


def pack_group(new: NewRequest, *, share_tenants: bool) -> tuple[str, str]:
    """``(group, pack tenant)``: requests of one group go to the same packs."""
    tenant = "" if share_tenants else new.tenant
    return f"{new.project}|{new.location}|{new.model}|{tenant or '*'}", tenant


class RequestStore:
    """Requests and packs in Redis (docs/contracts.md § Requests and packing).

    Args:
        redis: a ``redis.Redis`` client.
        settings: pack limits and whether tenants share packs.
    """

    def __init__(self, redis: redis_lib.Redis, *, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self._add = redis.register_script(_script("add.lua"))

    @classmethod
    def from_settings(cls, settings: Settings) -> RequestStore:
        """A store on ``settings.redis_url`` with its own connection pool."""
        return cls(client_for(settings), settings=settings)

    # -- add ------------------------------------------------------------------------------------

    def add_many(self, items: Sequence[NewRequest]) -> list[AddResult | IdempotencyConflictError]:
        """Store requests in order; one result (or conflict error) per item.

        Raises:
            redis.RedisError: Redis is unreachable (some items may be stored: adding again
                with the same idempotency keys is safe).
        """
        chunks = [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]
        replies: list[Any] = []
        if len(chunks) <= 1:
            for chunk in chunks:
                replies += self._run(self._calls(chunk))
        else:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vbq-requests") as pool:
                running: Future[list[Any]] | None = None
                for chunk in chunks:
                    calls = self._calls(chunk)
                    if running is not None:
                        replies += running.result()
                    running = pool.submit(self._run, calls)
                if running is not None:
                    replies += running.result()
        return [_result(new, reply) for new, reply in zip(items, replies, strict=True)]

    def _calls(self, chunk: Sequence[NewRequest]) -> list[list[Any]]:
        s = self.settings
        calls: list[list[Any]] = []
        for start in range(0, len(chunk), _PER_CALL):
            args: list[Any] = [PREFIX, s.pack_max_rows, s.pack_max_bytes]
            # One random base per call: a request that opens a pack names it base + index.
            base = uuid.uuid4().hex[:28]
            for n, new in enumerate(chunk[start : start + _PER_CALL]):
                group, pack_tenant = pack_group(new, share_tenants=s.pack_share_tenants)
                args += [
                    new.request_id,
                    new.fingerprint,
                    group,
                    f"{base}{n:04x}",
                    new.line,
                    len(new.line) + 1,
                    new.project,
                    new.location,
                    new.model,
                    pack_tenant,
                    new.tenant,
                    new.idempotency_key or "",
                    new.metadata_json
                    or (
                        json.dumps(dict(new.metadata), separators=(",", ":"))
                        if new.metadata
                        else ""
                    ),
                ]
            calls.append(args)
        return calls

    def _run(self, calls: list[list[Any]]) -> list[Any]:
        pipe = self.redis.pipeline(transaction=False)
        for args in calls:
            self._add(keys=[], args=args, client=pipe)
        return [reply for replies in pipe.execute() for reply in replies]

    # -- read -----------------------------------------------------------------------------------

    def get(self, request_id: str, tenant: str | None = None) -> RequestRecord:
        """One request.

        Raises:
            NotFoundError: no such request (or another tenant's, when ``tenant`` is given).
        """
        raw = self.redis.hgetall(request_key(request_id))
        if not raw:
            raise NotFoundError(f"request {request_id} not found")
        rec = decode_request(raw)
        if tenant is not None and rec.tenant != tenant:
            raise NotFoundError(f"request {request_id} not found")
        return rec

    def get_many(self, request_ids: Sequence[str]) -> list[RequestRecord | None]:
        """Records in the given order (None for a missing id), pipelined."""
        pipe = self.redis.pipeline(transaction=False)
        for rid in request_ids:
            pipe.hgetall(request_key(rid))
        return [decode_request(raw) if raw else None for raw in pipe.execute()]

    def get_pack(self, pack_id: str) -> PackRecord | None:
        """One pack, or None when it is gone."""
        raw = self.redis.hgetall(pack_key(pack_id))
        return decode_pack(raw) if raw else None

    def counts(self) -> dict[str, int]:
        """Requests per stored state (``PENDING``, ``SUCCEEDED``, ``FAILED``)."""
        raw = self.redis.hgetall(COUNTS_KEY)
        return {_text(k): int(_text(v)) for k, v in raw.items() if int(_text(v))}

    def close(self) -> None:
        """Close the connection pool."""
        self.redis.close()


def _script(name: str) -> str:
    from importlib import resources

    return resources.files("vbq.requests").joinpath("lua", name).read_text(encoding="utf-8")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _result(new: NewRequest, reply: Any) -> AddResult | IdempotencyConflictError:
    status = _text(reply[0])
    if status == "created":
        sealed = tuple(p for p in (_text(reply[3]), _text(reply[4])) if p)
        return AddResult(new, reply, created=True, sealed=sealed)
    if status == "exists":
        return AddResult(new, reply, created=False, sealed=())
    if status == "conflict":
        return IdempotencyConflictError(new.idempotency_key or "", new.request_id)
    raise StoreError(f"unexpected add reply {reply!r}")


def _record(new: NewRequest, reply: Any) -> RequestRecord:
    if _text(reply[0]) == "created":
        return RequestRecord(
            id=new.request_id,
            state=RequestState.PENDING,
            tenant=new.tenant,
            model=new.model,
            project=new.project,
            location=new.location,
            pack_id=_text(reply[2]),
            idempotency_key=new.idempotency_key,
            metadata=dict(new.metadata or {}),
            created_at=float(_text(reply[1])),
        )
    it = iter(reply[1])
    return decode_request(dict(zip(it, it, strict=True)))
