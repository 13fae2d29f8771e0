"""Reading job requests from files for ``vbq submit``: JSON, YAML, or JSON lines.

A file holds SDK keyword arguments (``BatchPredictionJob.submit()``), optionally with
``idempotency_key``, ``tenant`` and ``metadata``:

- ``.json``: one object (a single request) or an array (bulk);
- ``.yaml`` / ``.yml``: one mapping, a list, or several ``---`` documents (bulk when > 1);
- ``.jsonl`` / ``.ndjson``: one object per line (always bulk; blank lines skipped);
- ``-`` (stdin) or any other suffix: the format is sniffed in that order.

A line or element that is not an object is reported as an :class:`~vbq.producers.batch.ItemError`
at its index instead of failing the whole file, so one bad line does not hide the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vbq.errors import ConfigError
from vbq.producers.batch import ItemError

__all__ = ["ParsedRequests", "parse_requests", "read_requests"]


@dataclass(frozen=True, kw_only=True)
class ParsedRequests:
    """Requests read from one source.

    Attributes:
        items: per input position, either the kwargs dict or the error that made it unusable.
        bulk: True when the source is a collection (array, list, JSON lines), even of one.
        source: file name, or ``<stdin>``.
    """

    items: tuple[dict[str, Any] | ItemError, ...]
    bulk: bool
    source: str


def read_requests(path: str, *, stdin_text: str | None = None) -> ParsedRequests:
    """Read and parse ``path`` (``-`` means stdin, passed as ``stdin_text``).

    Raises:
        ConfigError: the file cannot be read or is not JSON, YAML or JSON lines at all.
    """
    if path == "-":
        if stdin_text is None:
            raise ConfigError("stdin requested but no input was given")
        return parse_requests(stdin_text, fmt="auto", source="<stdin>")
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    suffix = file.suffix.lower()
    fmt = {
        ".json": "json",
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
        ".yaml": "yaml",
        ".yml": "yaml",
    }.get(suffix, "auto")
    return parse_requests(text, fmt=fmt, source=path)


def parse_requests(text: str, *, fmt: str = "auto", source: str = "<text>") -> ParsedRequests:
    """Parse request text in ``fmt`` (``json``, ``jsonl``, ``yaml`` or ``auto``).

    Raises:
        ConfigError: the text is empty or not in the format (names the source and position).
    """
    if not text.strip():
        raise ConfigError(f"{source}: no job request found (empty input)")
    if fmt == "json":
        return _from_json(text, source)
    if fmt == "jsonl":
        return _from_jsonl(text, source)
    if fmt == "yaml":
        return _from_yaml(text, source)
    if fmt != "auto":
        raise ConfigError(f"unknown request format {fmt!r}")
    try:
        return _from_json(text, source)
    except ConfigError:
        pass
    first = text.lstrip()[:1]
    if first == "{" and len([ln for ln in text.splitlines() if ln.strip()]) > 1:
        return _from_jsonl(text, source)
    return _from_yaml(text, source)


def _items(values: list[Any]) -> tuple[dict[str, Any] | ItemError, ...]:
    out: list[dict[str, Any] | ItemError] = []
    for index, value in enumerate(values):
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            out.append(value)
        else:
            out.append(
                ItemError.single(
                    index, "<item>", "type", f"expected an object, got {type(value).__name__}"
                )
            )
    return tuple(out)


def _from_json(text: str, source: str) -> ParsedRequests:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ConfigError(f"{source}: not valid JSON: {exc}") from None
    if isinstance(value, list):
        return ParsedRequests(items=_items(value), bulk=True, source=source)
    if isinstance(value, dict):
        return ParsedRequests(items=_items([value]), bulk=False, source=source)
    raise ConfigError(f"{source}: expected a JSON object or array, got {type(value).__name__}")


def _from_jsonl(text: str, source: str) -> ParsedRequests:
    values: list[Any] = []
    errors: dict[int, ItemError] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        index = len(values)
        try:
            values.append(json.loads(line))
        except (json.JSONDecodeError, RecursionError) as exc:
            values.append(None)
            errors[index] = ItemError.single(index, "<line>", "json", f"not valid JSON: {exc}")
    items = list(_items(values))
    for index, error in errors.items():
        items[index] = error
    return ParsedRequests(items=tuple(items), bulk=True, source=source)


def _from_yaml(text: str, source: str) -> ParsedRequests:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid JSON, JSON lines or YAML: {exc}") from None
    if not docs:
        raise ConfigError(f"{source}: no job request found")
    if len(docs) == 1 and isinstance(docs[0], list):
        return ParsedRequests(items=_items(docs[0]), bulk=True, source=source)
    if len(docs) == 1 and isinstance(docs[0], dict):
        return ParsedRequests(items=_items(docs), bulk=False, source=source)
    if len(docs) == 1:
        raise ConfigError(f"{source}: expected a mapping or a list, got {type(docs[0]).__name__}")
    return ParsedRequests(items=_items(docs), bulk=True, source=source)
