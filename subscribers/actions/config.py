"""Built-in actions from a configuration file: ``vbq subscribe --actions actions.yaml``.

YAML or JSON; a list of actions, or ``{"actions": [...]}``::

    actions:
      - name: notify                     # optional; stable handler name (default action-N)
        "on": [job.succeeded, job.failed]   # event types ("*" = all); quote "on" in YAML 1.1
        action: webhook
        url: https://hooks.example.com/vbq
        secret_env: WEBHOOK_SECRET       # the variable's name, never the secret
        timeout_s: 5                     # per attempt
        budget_s: 10                     # all attempts of one delivery
      - "on": [job.succeeded, job.partially_succeeded, job.failed]
        action: summary
        path: /var/lib/vbq/summaries.jsonl
        read_rows: true
      - "on": [job.succeeded]
        action: chain
        stage: stage2
        submit:                          # SDK keyword arguments of the follow-up
          model_name: publishers/google/models/gemini-2.0-flash-001
          gcs_source: "{gcs_output_directory}/predictions*.jsonl"
          instances_format: jsonl
          gcs_destination_prefix: gs://bucket/stage2

An unquoted ``on`` key reads as the boolean ``true`` in YAML 1.1; it is accepted as ``on``.
String values under ``submit`` may use ``{gcs_output_directory}``, ``{submission_id}``,
``{event_id}`` and ``{display_name}`` of the parent. Unknown keys are refused at startup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from vbq.errors import ConfigError, VbqError
from vbq.events import JobEvent
from vbq.subscribers.actions.chain import Chain
from vbq.subscribers.actions.outputs import output_directory
from vbq.subscribers.actions.summary import JsonlFileSink, Summary
from vbq.subscribers.actions.webhook import Webhook
from vbq.subscribers.registry import HandlerRegistry, Registration

__all__ = ["ACTIONS", "build_action", "load_actions", "parse_actions"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_COMMON = {"name", "on", "action"}
_KEYS: dict[str, set[str]] = {
    "webhook": {
        "url",
        "secret_env",
        "timeout_s",
        "budget_s",
        "backoff_base_s",
        "backoff_max_s",
        "headers",
    },
    "summary": {"path", "read_rows", "fsync"},
    "chain": {"stage", "submit"},
}
ACTIONS = frozenset(_KEYS)
"""The action names a configuration file may use."""

_PLACEHOLDERS = ("gcs_output_directory", "submission_id", "event_id", "display_name")


def load_actions(path: str | Path) -> HandlerRegistry:
    """A registry with one handler per action in the file at ``path``.

    Raises:
        ConfigError: the file is unreadable, not YAML/JSON, or an action is invalid (the
            message names the action's index and the key).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--actions {path}: {exc.strerror or exc}") from None
    try:
        raw = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"--actions {path}: not valid YAML/JSON: {exc}") from None
    registry = HandlerRegistry()
    for reg in parse_actions(raw, source=str(path)):
        registry.include(reg)
    return registry


def parse_actions(raw: Any, *, source: str = "actions") -> list[Registration]:
    """Registrations for the parsed configuration ``raw`` (list, or ``{"actions": [...]}``).

    Raises:
        ConfigError: as :func:`load_actions`.
    """
    if isinstance(raw, Mapping) and set(raw) == {"actions"}:
        raw = raw["actions"]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{source}: expected a non-empty list of actions")
    regs: list[Registration] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        where = f"{source}: action #{index + 1}"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: expected a mapping")
        # YAML 1.1 reads a bare `on` key as the boolean true.
        item = {("on" if k is True else str(k)): v for k, v in entry.items()}
        name = str(item.get("name") or f"{item.get('action', 'action')}-{index + 1}")
        if not _NAME_RE.fullmatch(name):
            raise ConfigError(f"{where}: name {name!r} must match {_NAME_RE.pattern}")
        if name in seen:
            raise ConfigError(f"{where}: duplicate name {name!r}")
        seen.add(name)
        types = _types(item.get("on"), where)
        func = build_action(item, name=name, where=where)
        # HandlerRegistry.add validates the types; keep them under the stable configured name.
        checked = HandlerRegistry().add(func, *types).types
        regs.append(Registration(name=f"vbq.subscribers.actions:{name}", types=checked, func=func))
    return regs


def build_action(item: Mapping[str, Any], *, name: str, where: str = "action") -> Any:
    """The handler object for one action mapping (``action`` selects the kind).

    Raises:
        ConfigError: unknown action or key, a missing or mistyped value.
    """
    kind = item.get("action")
    if kind not in _KEYS:
        raise ConfigError(f"{where}: action must be one of {sorted(ACTIONS)}, got {kind!r}")
    unknown = sorted(set(item) - _COMMON - _KEYS[kind])
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} for action {kind}")
    opts = {k: v for k, v in item.items() if k in _KEYS[kind]}
    try:
        if kind == "webhook":
            if "url" not in opts or "secret_env" not in opts:
                raise ConfigError("webhook needs url and secret_env")
            return Webhook(name=name, **opts)
        if kind == "summary":
            sink = JsonlFileSink(
                path=str(opts.get("path") or "vbq-summaries.jsonl"),
                fsync=bool(opts.get("fsync", False)),
            )
            return Summary(sink=sink, read_rows=bool(opts.get("read_rows", False)), name=name)
        submit = opts.get("submit")
        if not isinstance(submit, Mapping) or not submit:
            raise ConfigError("chain needs submit: a mapping of SDK keyword arguments")
        return Chain(build=_template_build(dict(submit)), stage=str(opts.get("stage", name)))
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except VbqError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _types(value: Any, where: str) -> list[str]:
    if value is None:
        raise ConfigError(f"{where}: 'on' (event types) is required")
    types = [value] if isinstance(value, str) else value
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types) or not types:
        raise ConfigError(f"{where}: 'on' must be an event type or a list of them")
    return types


def _template_build(submit: dict[str, Any]) -> Callable[[JobEvent], dict[str, Any]]:
    needs_dir = "{gcs_output_directory}" in json.dumps(submit)

    def build(event: JobEvent) -> dict[str, Any]:
        job = event.job or {}
        values = {
            "gcs_output_directory": output_directory(event) if needs_dir else "",
            "submission_id": event.submission_id,
            "event_id": event.event_id,
            "display_name": str(job.get("displayName") or ""),
        }
        return {k: _fill(v, values) for k, v in submit.items()}

    return build


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    # Known placeholders only: other braces in user strings are left alone.
    if isinstance(value, str):
        for key in _PLACEHOLDERS:
            value = value.replace("{" + key + "}", values[key])
        return value
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    if isinstance(value, Mapping):
        return {k: _fill(v, values) for k, v in value.items()}
    return value
