"""Pack operations of the packer and the unpacker (each one atomic Lua call or a read).

The life of a pack: ``OPEN`` (``add.lua`` appends requests) → ``SEALED`` (full, too old, or
forced: no request joins any more) → ``FLUSHED`` (its JSONL is in Cloud Storage and it is a
submission; its lines leave Redis) → ``DONE`` (every request answered; its id list leaves
Redis and the pack hash expires with its requests).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import redis as redis_lib

from vbq.requests.keys import (
    PACKS_FLUSHED,
    PACKS_OPEN,
    PACKS_SEALED,
    PREFIX,
    pack_ids_key,
    pack_key,
    pack_lines_key,
)
from vbq.requests.records import Answer
from vbq.requests.store import _script
from vbq.settings import Settings

__all__ = ["AnswerCounts", "PackBook"]

_PAGE = 5000
_ANSWER_BATCH = 500


class AnswerCounts:
    """Totals of :meth:`PackBook.answer`: answered now, answered before, not in the pack."""

    def __init__(self) -> None:
        self.new = 0
        self.before = 0
        self.foreign = 0

    def add(self, reply: Sequence[Any]) -> None:
        self.new += int(reply[0])
        self.before += int(reply[1])
        self.foreign += int(reply[2])

    @property
    def matched(self) -> int:
        """Requests of this pack that are answered (now or before)."""
        return self.new + self.before


class PackBook:
    """Pack state changes and reads.

    Args:
        redis: the vbq Redis.
        settings: request TTL and whether request events are published.
    """

    def __init__(self, redis: redis_lib.Redis, *, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self._seal = redis.register_script(_script("seal.lua"))
        self._flushed = redis.register_script(_script("flushed.lua"))
        self._answer = redis.register_script(_script("answer.lua"))
        self._done = redis.register_script(_script("done.lua"))

    # -- packer ---------------------------------------------------------------------------------

    def due(self, now_s: float, *, limit: int = 100) -> tuple[list[str], list[str]]:
        """``(open packs older than VBQ_PACK_MAX_WAIT_S, sealed packs)`` to flush."""
        cutoff = now_s - self.settings.pack_max_wait_s
        aged = self.redis.zrangebyscore(PACKS_OPEN, "-inf", cutoff, start=0, num=limit)
        sealed = self.redis.zrange(PACKS_SEALED, 0, limit - 1)
        return [_text(p) for p in aged], [_text(p) for p in sealed]

    def seal(self, pack_id: str, *, reason: str, created_before_s: float | None = None) -> str:
        """Seal an open pack (only if created before ``created_before_s``, when given).

        Returns:
            The pack's state after the call (``""`` when there is no such pack).
        """
        bound = "" if created_before_s is None else repr(created_before_s)
        return _text(self._seal(keys=[pack_key(pack_id)], args=[pack_id, PREFIX, reason, bound]))

    def iter_lines(self, pack_id: str) -> Iterator[list[bytes]]:
        """The sealed pack's JSONL lines in row order, a page at a time (bounded memory)."""
        key = pack_lines_key(pack_id)
        start = 0
        while True:
            page = self.redis.lrange(key, start, start + _PAGE - 1)
            if not page:
                return
            yield [p if isinstance(p, bytes) else str(p).encode() for p in page]
            start += len(page)

    def mark_flushed(self, pack_id: str, *, submission_id: str, input_uri: str) -> str:
        """SEALED → FLUSHED with its submission; returns the state after the call."""
        args = [pack_id, PREFIX, submission_id, input_uri]
        return _text(self._flushed(keys=[pack_key(pack_id)], args=args))

    # -- unpacker -------------------------------------------------------------------------------

    def flushed(self, *, limit: int = 1000) -> list[str]:
        """Packs submitted and not yet answered, oldest first."""
        return [_text(p) for p in self.redis.zrange(PACKS_FLUSHED, 0, limit - 1)]

    def set_files(self, pack_id: str, files: Sequence[str]) -> None:
        """Record the output files (answers point into them by index) before answering."""
        self.redis.hset(pack_key(pack_id), "files", json.dumps(list(files)))

    def answer(
        self, pack_id: str, answers: Sequence[Answer], *, events: Sequence[str] | None = None
    ) -> AnswerCounts:
        """Answer requests (each at most once), pipelined ``_ANSWER_BATCH`` per Lua call.

        Args:
            events: one request event JSON per answer (``VBQ_REQUEST_EVENTS``), or None.
        """
        counts = AnswerCounts()
        flag = "1" if events is not None else "0"
        pipe = self.redis.pipeline(transaction=False)
        for start in range(0, len(answers), _ANSWER_BATCH):
            args: list[Any] = [PREFIX, pack_id, self.settings.request_ttl_s, flag]
            for i in range(start, min(start + _ANSWER_BATCH, len(answers))):
                a = answers[i]
                args.append(
                    f"{a.request_id}\t{a.state.value}\t{a.file_index}\t{a.offset}\t{a.length}"
                    f"\t{a.tokens.encode()}\t{a.error}"
                )
                if events is not None:
                    args.append(events[i])
            self._answer(keys=[], args=args, client=pipe)
        for reply in pipe.execute():
            counts.add(reply)
        return counts

    def iter_ids(self, pack_id: str) -> Iterator[list[str]]:
        """The pack's request ids, a page at a time."""
        key = pack_ids_key(pack_id)
        start = 0
        while True:
            page = self.redis.lrange(key, start, start + _PAGE - 1)
            if not page:
                return
            yield [_text(p) for p in page]
            start += len(page)

    def done(self, pack_id: str, files: Sequence[str]) -> str:
        """Close an answered pack; returns its previous state."""
        args: list[Any] = [pack_id, PREFIX, json.dumps(list(files)), self.settings.request_ttl_s]
        return _text(self._done(keys=[pack_key(pack_id)], args=args))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
