"""Rules that turn Cloud Storage ``OBJECT_FINALIZE`` notifications into job requests.

A rule file (YAML or JSON)::

    notifications:                      # where the bucket's notifications arrive (optional)
      topic: vbq-gcs-notifications
      subscription: vbq-gcs-notifications-sub
    rules:
      - name: gemini-incoming
        bucket: my-bucket               # bucket name; a glob ("*", "team-*") is allowed
        object: "incoming/**/*.jsonl"   # object-name glob
        tenant: analytics               # owner of the submissions (default "default")
        priority: bulk                  # interactive | default | bulk (default "default")
        job:                            # BatchPredictionJob.submit() kwargs; strings are templates
          model_name: publishers/google/models/gemini-2.0-flash-001
          job_display_name: "incoming {basename}"
          gcs_source: "gs://{bucket}/{name}"
          gcs_destination_prefix: "gs://{bucket}/outputs/{stem}"
          labels: {team: "{metadata.team|default:none}", folder: "{path[1]}"}
        metadata: {owner: "{metadata.owner|default:}"}

Globs match the whole name: ``*`` and ``?`` stay within one ``/`` segment, ``**`` crosses
segments and ``**/`` also matches no folder at all. The first matching rule wins. Label values
are always sanitized to Google's rules (lowercase, ``[a-z0-9_-]``, 63 characters); label keys are
literal and checked at load time. Templates: :mod:`vbq.producers.bridge.template`.

Idempotency key of a rule's submission: ``gcs:{bucket}/{object}#{generation}``, so the same
generation never submits twice (redeliveries, duplicate notifications) and a new generation of
the same object does.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vbq.errors import ConfigError, SpecError
from vbq.producers.bridge.notifications import ObjectEvent
from vbq.producers.bridge.requests import JobRequest, bounded_key
from vbq.producers.bridge.template import Template, sanitize_label_value
from vbq.producers.tenancy import TENANT_PATTERN
from vbq.scheduler import PRIORITIES
from vbq.spec import JobSpec
from vbq.spec.labels import RESERVED_PREFIX, is_label_key

__all__ = [
    "DEFAULT_NOTIFICATIONS_SUBSCRIPTION",
    "DEFAULT_NOTIFICATIONS_TOPIC",
    "Rule",
    "RuleSet",
    "glob_regex",
    "notification_idempotency_key",
]

DEFAULT_NOTIFICATIONS_TOPIC = "vbq-gcs-notifications"
DEFAULT_NOTIFICATIONS_SUBSCRIPTION = "vbq-gcs-notifications-sub"

_RULE_KEYS = frozenset({"name", "bucket", "object", "tenant", "priority", "job", "metadata"})
_TOP_KEYS = frozenset({"notifications", "rules"})


@functools.lru_cache(maxsize=1024)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile an object-name glob (``*``, ``?``, ``**``, ``**/``) to an anchored regex."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def notification_idempotency_key(bucket: str, name: str, generation: str) -> str:
    """``gcs:{bucket}/{object}#{generation}`` (hashed when longer than the store allows)."""
    return bounded_key("gcs:", f"{bucket}/{name}", f"#{generation}")


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One compiled rule (see the module docstring for the file format)."""

    name: str
    bucket: str
    object: str
    tenant: str
    job: Any
    metadata: Any = None
    priority: str = "default"

    def matches(self, event: ObjectEvent) -> bool:
        """Whether the rule's bucket and object globs match ``event``."""
        return bool(
            glob_regex(self.bucket).match(event.bucket)
            and glob_regex(self.object).match(event.name)
        )

    def render(self, event: ObjectEvent) -> JobRequest:
        """The job request for ``event``.

        Raises:
            SpecError: a template value is missing (field = the job field, rule ``template``).
        """
        context = event.context(rule=self.name)
        kwargs = _render(self.job, context, "")
        labels = kwargs.get("labels")
        if isinstance(labels, dict):
            kwargs["labels"] = {k: sanitize_label_value(str(v)) for k, v in labels.items()}
        source = {
            "rule": self.name,
            "bucket": event.bucket,
            "object": event.name,
            "generation": event.generation,
        }
        extra = _render(self.metadata, context, "metadata") if self.metadata else {}
        return JobRequest(
            sdk_kwargs=kwargs,
            idempotency_key=notification_idempotency_key(
                event.bucket, event.name, event.generation
            ),
            tenant=self.tenant,
            metadata={**extra, "gcs": source},
            priority=self.priority,
        )


@dataclass(frozen=True, kw_only=True)
class RuleSet:
    """The rules of one file, in order, and the notification topic and subscription."""

    rules: tuple[Rule, ...]
    topic: str = DEFAULT_NOTIFICATIONS_TOPIC
    subscription: str = DEFAULT_NOTIFICATIONS_SUBSCRIPTION

    def match(self, event: ObjectEvent) -> Rule | None:
        """The first rule matching ``event``, or None."""
        return next((r for r in self.rules if r.matches(event)), None)

    @classmethod
    def load(cls, path: str | Path) -> RuleSet:
        """Read and compile a rule file (YAML, or JSON which is YAML too).

        Raises:
            ConfigError: unreadable file, bad structure, template, glob, tenant or label key
                (names the rule and the field).
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
            data = yaml.safe_load(text) if not str(path).endswith(".json") else json.loads(text)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise ConfigError(f"rule file {path}: {exc}") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: object, *, source: str = "rules") -> RuleSet:
        """Compile rules from parsed YAML/JSON.

        Raises:
            ConfigError: see :meth:`load`.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: the rule file must be a mapping with 'rules'")
        unknown = set(data) - _TOP_KEYS
        if unknown:
            raise ConfigError(
                f"{source}: unknown keys {sorted(unknown)} (known: notifications, rules)"
            )
        raw_rules = data.get("rules")
        if not isinstance(raw_rules, list) or not raw_rules:
            raise ConfigError(f"{source}: 'rules' must be a non-empty list")
        notes = data.get("notifications") or {}
        if not isinstance(notes, Mapping) or set(notes) - {"topic", "subscription"}:
            raise ConfigError(f"{source}: 'notifications' takes only topic and subscription")
        rules = tuple(_compile_rule(r, i, source) for i, r in enumerate(raw_rules))
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise ConfigError(f"{source}: rule names must be unique, got {names}")
        return cls(
            rules=rules,
            topic=str(notes.get("topic") or DEFAULT_NOTIFICATIONS_TOPIC),
            subscription=str(notes.get("subscription") or DEFAULT_NOTIFICATIONS_SUBSCRIPTION),
        )


def _compile_rule(raw: object, index: int, source: str) -> Rule:
    where = f"{source}: rules[{index}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a mapping")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    name = str(raw.get("name") or f"rule-{index}")
    where = f"{source}: rule {name!r}"
    bucket, obj = raw.get("bucket"), raw.get("object", "**")
    if not isinstance(bucket, str) or not bucket:
        raise ConfigError(f"{where}: 'bucket' (a name or glob) is required")
    if not isinstance(obj, str) or not obj:
        raise ConfigError(f"{where}: 'object' must be a glob string")
    tenant = raw.get("tenant", "default")
    if not isinstance(tenant, str) or not TENANT_PATTERN.fullmatch(tenant):
        raise ConfigError(f"{where}: tenant must match {TENANT_PATTERN.pattern}")
    priority = raw.get("priority", "default")
    if priority not in PRIORITIES:
        raise ConfigError(f"{where}: priority must be one of {', '.join(PRIORITIES)}")
    job = raw.get("job")
    if not isinstance(job, Mapping) or not job:
        raise ConfigError(f"{where}: 'job' (BatchPredictionJob.submit() arguments) is required")
    labels = job.get("labels")
    if labels is not None:
        if not isinstance(labels, Mapping):
            raise ConfigError(f"{where}: job.labels must be a mapping")
        for key in labels:
            if not isinstance(key, str) or not is_label_key(key):
                raise ConfigError(f"{where}: job.labels key {key!r} is not a valid label key")
            if key.startswith(RESERVED_PREFIX):
                raise ConfigError(f"{where}: label keys starting {RESERVED_PREFIX!r} are reserved")
    metadata = raw.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise ConfigError(f"{where}: 'metadata' must be a mapping")
    rule = Rule(
        name=name,
        bucket=bucket,
        object=obj,
        tenant=tenant,
        priority=str(priority),
        job=_compile(job, f"{where}: job"),
        metadata=_compile(metadata, f"{where}: metadata") if metadata else None,
    )
    _check_parameters(rule, where)
    return rule


def _compile(value: Any, where: str) -> Any:
    if isinstance(value, str):
        return Template(value, where=where)
    if isinstance(value, Mapping):
        return {str(k): _compile(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_compile(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _render(tree: Any, context: Mapping[str, Any], field: str) -> Any:
    if isinstance(tree, Template):
        return tree.render(context, field=field or "job")
    if isinstance(tree, dict):
        return {k: _render(v, context, f"{field}.{k}" if field else k) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_render(v, context, f"{field}[{i}]") for i, v in enumerate(tree)]
    return tree


class _AnyValue(Mapping[str, str]):
    """A mapping that has every key (sample metadata for the load-time check)."""

    def __getitem__(self, key: str) -> str:
        return "sample"

    def get(self, key: str, default: object = None) -> str:  # type: ignore[override]
        return "sample"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _check_parameters(rule: Rule, where: str) -> None:
    """Refuse parameters ``BatchPredictionJob.submit()`` does not have, at load time."""
    context = ObjectEvent(
        event_type="OBJECT_FINALIZE",
        bucket="sample",
        name="/".join(["sample"] * 32),
        generation="1",
    ).context(rule=rule.name)
    context["metadata"] = _AnyValue()
    context["object"] = {**context["object"], **{"contentType": "sample", "size": "1"}}
    try:
        kwargs = _render(rule.job, context, "")
    except SpecError:
        return  # e.g. a field of the object resource only real objects have
    try:
        JobSpec.from_sdk_kwargs(**kwargs)
    except SpecError as exc:
        unknown = [e["field"] for e in exc.errors if e["rule"] in {"unknown", "not_accepted"}]
        if unknown:
            raise ConfigError(f"{where}: job has unknown or refused parameters {unknown}") from None
    except TypeError as exc:
        raise ConfigError(f"{where}: job: {exc}") from None
