"""Append-only journal of the emulator's state changes (one JSON object per line).

Records: ``topic``/``sub`` (the resource, protobuf bytes in base64), ``deltopic``/``delsub``,
``pub`` (a message and the subscriptions that hold it), ``ack`` (message numbers done in one
subscription) and ``dlv`` (message numbers delivered once more, so ``delivery_attempt``
survives a restart). Every record is written to the OS before the RPC that caused it returns,
so ``kill -9`` loses nothing acknowledged to a client. A torn last line is ignored on replay.
At startup the live state is rewritten into a fresh file (compaction) and renamed over the old.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from vbq.logs import get_logger

__all__ = ["Journal"]

log = get_logger(__name__)


class Journal:
    """The journal file of one emulator.

    Args:
        path: the file; created (with parent directories) when missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None
        self.records_written = 0

    def replay(self) -> Iterator[dict[str, Any]]:
        """Yield every complete record in file order (nothing when the file does not exist)."""
        if not self.path.exists():
            return
        with self.path.open("r", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                text = line.strip()
                if not text:
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError:
                    # Only the last line can be torn by a crash mid-write; skip it and go on.
                    log.warning("pubsub_journal_bad_line", path=str(self.path), line=number)
                    continue
                if isinstance(record, dict):
                    yield record

    def rewrite(self, records: Iterable[dict[str, Any]]) -> None:
        """Replace the file with ``records`` atomically, then reopen it for appending."""
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        count = 0
        with tmp.open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, separators=(",", ":")) + "\n")
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        self.records_written = count
        self._handle = self.path.open("a", encoding="utf-8")

    def append(self, record: dict[str, Any]) -> None:
        """Buffer one record; :meth:`flush` hands it to the OS."""
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.records_written += 1

    def flush(self) -> None:
        """Write buffered records to the OS (enough to survive the process being killed)."""
        if self._handle is not None:
            self._handle.flush()

    def close(self) -> None:
        """Flush and close the file."""
        if self._handle is not None:
            self._handle.flush()
            self._handle.close()
            self._handle = None
