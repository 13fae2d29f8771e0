"""The :class:`Settings` dataclass: every setting of vbq, with units in the names.

``Settings.from_env()`` reads them (:mod:`vbq.settings.reading`); nothing else in vbq reads
``os.environ`` for configuration. Credentials are never settings: vbq uses Application Default
Credentials through google-auth.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from vbq.errors import ConfigError
from vbq.redaction import redact_url
from vbq.scheduler.policy import TenantPolicy
from vbq.settings.reading import read_settings

__all__ = ["Settings"]


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting of vbq, with units in the names.

    Build it with :meth:`from_env`; override single values in tests with :meth:`replace`.
    """

    redis_url: str = "redis://127.0.0.1:6379/0"
    """Job store, rate limits, slots, outbox and inbox (``VBQ_REDIS_URL``)."""
    broker_url: str = ""
    """Celery broker (``VBQ_BROKER_URL``); empty means the Redis URL."""
    redis_failover_timeout_s: float = 30.0
    """With a ``redis+sentinel://`` URL: how long a Redis command keeps retrying while Sentinel
    promotes a replica, in seconds (``VBQ_REDIS_FAILOVER_TIMEOUT_S``, :mod:`vbq.redisconn`)."""
    redis_wait_replicas: int = 0
    """Replicas that must confirm a new submission before ``submit()`` returns its id
    (``VBQ_REDIS_WAIT_REPLICAS``; Redis ``WAIT``). Default 1 with a ``redis+sentinel://``
    URL, else 0 (no wait)."""
    redis_wait_timeout_s: float = 2.0
    """How long ``submit()`` waits for those replicas, in seconds
    (``VBQ_REDIS_WAIT_TIMEOUT_S``); then it raises
    :class:`~vbq.errors.ReplicationTimeoutError`."""
    project: str = ""
    """Default Google Cloud project (``VBQ_PROJECT``)."""
    location: str = "us-central1"
    """Default Vertex AI region (``VBQ_LOCATION``)."""
    vertex_endpoint: str = ""
    """Vertex base URL (``VBQ_VERTEX_ENDPOINT``); empty means Google's regional host.
    Setting it (an emulator) switches to anonymous credentials."""
    events_topic: str = "vbq-job-events"
    """Topic id (or ``projects/P/topics/T``) that job events go to (``VBQ_EVENTS_TOPIC``)."""
    events_subscription: str = "vbq-job-events-sub"
    """Subscription id that ``vbq subscribe`` pulls (``VBQ_EVENTS_SUBSCRIPTION``)."""
    dead_letter_topic: str = "vbq-dead-letter"
    """Topic for malformed messages (``VBQ_DEAD_LETTER_TOPIC``)."""
    event_types: tuple[str, ...] = ()
    """Which event types to publish (``VBQ_EVENT_TYPES``, comma separated); empty = all."""
    events_schema: str = "vbq-job-event-1"
    """Pub/Sub schema id that ``--create`` registers and attaches to the events topic
    (``VBQ_EVENTS_SCHEMA``); empty = create the topic without a schema."""
    pubsub_emulator_host: str = ""
    """Google's ``PUBSUB_EMULATOR_HOST``, as Google's client reads it."""
    storage_emulator_host: str = ""
    """Google's ``STORAGE_EMULATOR_HOST``, as Google's client reads it."""

    create_rate_per_min: float = 60.0
    """Global create calls per minute per (project, location) (``VBQ_CREATE_RATE_PER_MIN``)."""
    create_burst: int = 5
    """Create calls allowed above the steady rate at once (``VBQ_CREATE_BURST``)."""
    read_rate_per_min: float = 600.0
    """Global get/list calls per minute per (project, location) (``VBQ_READ_RATE_PER_MIN``)."""
    read_burst: int = 20
    """Read calls allowed above the steady rate at once (``VBQ_READ_BURST``)."""
    rate_limit_margin_s: float = 0.15
    """How much the delay from a rate-limit grant to Google receiving the call may vary, in
    seconds (``VBQ_RATE_LIMIT_MARGIN_S``): the limiters hold back that much of their burst, so
    that no 1 s window *at Google* exceeds rate + burst (:mod:`vbq.quota.ratelimit`)."""
    adaptive_rate: bool = True
    """Adapt the create rate to Google's 429s (``VBQ_ADAPTIVE_RATE``): the configured rate is
    then a ceiling (:mod:`vbq.quota.adaptive`); off = the fixed configured rate."""
    adaptive_decrease_factor: float = 0.5
    """On a 429 to a create, the effective rate is multiplied by this, in (0, 1]
    (``VBQ_ADAPTIVE_DECREASE_FACTOR``)."""
    adaptive_decrease_interval_s: float = 1.0
    """At most one decrease per this many seconds, so a burst of 429s from one window counts
    once (``VBQ_ADAPTIVE_DECREASE_INTERVAL_S``)."""
    adaptive_quiet_s: float = 5.0
    """Seconds without a 429 before the effective rate climbs back (``VBQ_ADAPTIVE_QUIET_S``)."""
    adaptive_increase_share_per_s: float = 0.025
    """Climb per second after the quiet period, as a share of the configured rate
    (``VBQ_ADAPTIVE_INCREASE_SHARE_PER_S``; 0.025: from 0 to the ceiling in 40 s)."""
    adaptive_min_share: float = 0.05
    """Floor of the effective rate, as a share of the configured rate, in (0, 1]
    (``VBQ_ADAPTIVE_MIN_SHARE``)."""
    max_in_flight: int = 100
    """Unfinished Vertex jobs per (project, location) (``VBQ_MAX_IN_FLIGHT``)."""
    max_in_flight_per_model: int = 0
    """Unfinished jobs per model; 0 = no per-model cap (``VBQ_MAX_IN_FLIGHT_PER_MODEL``)."""
    # Per-tenant scheduling (docs/contracts.md § Scheduler): VBQ_TENANT_MAX_QUEUED and
    # _MAX_IN_FLIGHT (default caps, 0 = none), _OVERRIDES (JSON: weights, caps per tenant).
    locations: str = ""
    """Comma-separated locations submissions may name in ``locations`` (``VBQ_LOCATIONS``)."""
    location_limits: str = ""
    """JSON per-place limit overrides (``VBQ_LOCATION_LIMITS``, :mod:`vbq.places`)."""
    model_locations: str = ""
    """JSON model → locations where it is available (``VBQ_MODEL_LOCATIONS``)."""
    tenant_max_queued: int = 0
    tenant_max_in_flight: int = 0
    tenant_overrides: str = ""
    max_attempts: int = 8
    """Create attempts per submission before it is REJECTED (``VBQ_MAX_ATTEMPTS``)."""
    retry_base_s: float = 1.0
    """First backoff step in seconds; doubles per attempt, full jitter (``VBQ_RETRY_BASE_S``)."""
    retry_max_s: float = 300.0
    """Longest backoff in seconds (``VBQ_RETRY_MAX_S``)."""
    visibility_timeout_s: int = 3600
    """Broker visibility timeout in seconds; no delay is ever scheduled beyond half of it
    (``VBQ_VISIBILITY_TIMEOUT_S``)."""
    http_timeout_s: float = 30.0
    """Timeout of one Vertex REST call in seconds (``VBQ_HTTP_TIMEOUT_S``)."""

    poll_interval_s: float = 10.0
    """Seconds between poll cycles when jobs change (``VBQ_POLL_INTERVAL_S``)."""
    poll_max_interval_s: float = 60.0
    """Longest interval after backing off while nothing changes (``VBQ_POLL_MAX_INTERVAL_S``)."""
    poll_page_size: int = 100
    """``pageSize`` of list calls (``VBQ_POLL_PAGE_SIZE``)."""
    stale_after_s: float = 72 * 3600 + 3600
    """Age in seconds after which an unfinished job raises ``job.stale`` once
    (``VBQ_STALE_AFTER_S``; Gemini's 72 h queue limit plus a margin)."""

    inbox_ttl_s: int = 7 * 24 * 3600
    """How long a handled event id is remembered, in seconds (``VBQ_INBOX_TTL_S``)."""
    subscriber_max_messages: int = 100
    """Streaming-pull flow control: outstanding messages (``VBQ_SUBSCRIBER_MAX_MESSAGES``)."""
    shutdown_grace_s: float = 30.0
    """Seconds a role gets after SIGTERM to finish or hand back work (``VBQ_SHUTDOWN_GRACE_S``)."""
    push_port: int = 8080
    """Port of ``vbq subscribe --push`` (``VBQ_PUSH_PORT``, else Cloud Run's ``PORT``)."""
    push_audience: str = ""
    """Audience a push request's OIDC token must carry (``VBQ_PUSH_AUDIENCE``); empty = push
    requests are not authenticated."""
    push_service_account: str = ""
    """The ``email`` a push token must carry (``VBQ_PUSH_SERVICE_ACCOUNT``); empty = any."""
    push_issuers: tuple[str, ...] = ("https://accounts.google.com", "accounts.google.com")
    """Accepted ``iss`` of push tokens (``VBQ_PUSH_ISSUERS``, comma separated)."""
    push_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    """Where the keys that sign push tokens are published (``VBQ_PUSH_CERTS_URL``)."""

    metrics_port: int = 0
    """Port for ``/metrics``, ``/healthz``, ``/readyz``; 0 = off (``VBQ_METRICS_PORT``)."""
    metrics_host: str = "0.0.0.0"
    """Address the metrics/health server binds (``VBQ_METRICS_HOST``); all interfaces by
    default so that probes and Prometheus reach a container."""
    log_format: str = "auto"
    """``json``, ``console`` or ``auto`` (console on a terminal) (``VBQ_LOG_FORMAT``)."""
    log_level: str = "INFO"
    """Minimum log level (``VBQ_LOG_LEVEL``)."""
    api_keys_file: str = ""
    """YAML or JSON file of hashed API keys for ``vbq api`` (``VBQ_API_KEYS_FILE``)."""
    api_max_body_bytes: int = 1_048_576
    """Largest HTTP API request body in bytes (``VBQ_API_MAX_BODY_BYTES``)."""

    # Requests and packing (docs/contracts.md § Requests and packing).
    pack_prefix: str = ""
    """``gs://`` prefix where vbq writes packed inputs and split parts (``VBQ_PACK_PREFIX``)."""
    pack_max_rows: int = 200_000
    """Requests per pack and per split part; Google's limit is 200,000 (``VBQ_PACK_MAX_ROWS``)."""
    pack_max_bytes: int = 999_000_000
    """Input bytes per pack and per split part, just under Google's 1 GB
    (``VBQ_PACK_MAX_BYTES``)."""
    pack_max_wait_s: float = 300.0
    """A pack is flushed once its oldest request waited this long (``VBQ_PACK_MAX_WAIT_S``)."""
    pack_share_tenants: bool = False
    """Requests of different tenants share packs (``VBQ_PACK_SHARE_TENANTS``); off by default
    for failure, billing and fairness isolation per tenant."""
    request_models: tuple[str, ...] = ()
    """Models requests may name (``VBQ_REQUEST_MODELS``, comma separated); empty = any Gemini
    publisher model or tuned model."""
    request_events: bool = False
    """Publish a ``request.succeeded``/``request.failed`` event per request
    (``VBQ_REQUEST_EVENTS``; off: one event per packed job)."""
    request_ttl_s: int = 7 * 24 * 3600
    """How long an answered request stays readable, in seconds (``VBQ_REQUEST_TTL_S``)."""
    token_accounting: bool = True
    """Read Gemini outputs for ``usageMetadata`` before the finished event
    (``VBQ_TOKEN_ACCOUNTING``)."""
    price_table: str = ""
    """Batch prices per million tokens: JSON, or the path of a JSON/YAML file
    (``VBQ_PRICE_TABLE``); empty = no cost estimate."""
    results_timeout_s: float = 3600.0
    """How long unreadable outputs of a finished job are retried before its event goes out
    without results, in seconds (``VBQ_RESULTS_TIMEOUT_S``)."""
    split_inputs: bool = True
    """Split Gemini inputs over the pack limits into several jobs (``VBQ_SPLIT_INPUTS``)."""
    retention_s: int = 7 * 24 * 3600
    """How long a finished submission stays in Redis, in seconds (``VBQ_RETENTION_S``; 0 =
    forever): then it is archived (when ``archive_prefix`` is set) and leaves Redis with its
    indexes, idempotency key and inbox marks (docs/contracts.md § Retention and archive)."""
    archive_prefix: str = ""
    """``gs://`` prefix the archiver writes expired submissions to (``VBQ_ARCHIVE_PREFIX``);
    empty = they expire without an archive."""
    archive_index_ttl_s: int = 30 * 24 * 3600
    """How long Redis remembers where an expired submission was archived, in seconds
    (``VBQ_ARCHIVE_INDEX_TTL_S``): ``get`` answers from the archive that long after expiry."""
    retention_batch: int = 500
    """Submissions archived and expired per batch (``VBQ_RETENTION_BATCH``)."""

    extra: Mapping[str, str] = field(default_factory=dict)
    """Unrecognised ``VBQ_*`` variables, kept so ``vbq doctor`` can warn about typos."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default: ``os.environ``).

        Raises:
            ConfigError: a variable is present but malformed (names the variable).
        """
        return read_settings(cls, os.environ if env is None else env)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed (tests, CLI options)."""
        return replace(self, **changes)

    def tenant_policy(self) -> TenantPolicy:
        """Per-tenant weights and caps (``VBQ_TENANT_*``); ConfigError when malformed."""
        return TenantPolicy.from_settings(self)

    @property
    def uses_vertex_emulator(self) -> bool:
        """True when ``VBQ_VERTEX_ENDPOINT`` points somewhere other than Google."""
        return bool(self.vertex_endpoint) and "googleapis.com" not in self.vertex_endpoint

    def vertex_base_url(self, location: str | None = None) -> str:
        """Base URL of the Vertex REST API for ``location`` (no trailing slash)."""
        if self.vertex_endpoint:
            return self.vertex_endpoint
        loc = location or self.location
        host = (
            "aiplatform.googleapis.com" if loc == "global" else f"{loc}-aiplatform.googleapis.com"
        )
        return f"https://{host}"

    def events_topic_path(self) -> str:
        """Full topic path ``projects/P/topics/T`` of the events topic."""
        return _resource_path(self.events_topic, self.project, "topics")

    def events_subscription_path(self) -> str:
        """Full subscription path ``projects/P/subscriptions/S``."""
        return _resource_path(self.events_subscription, self.project, "subscriptions")

    def dead_letter_topic_path(self) -> str:
        """Full topic path of the dead-letter topic."""
        return _resource_path(self.dead_letter_topic, self.project, "topics")

    def redacted(self) -> dict[str, Any]:
        """Every setting as a dict, with passwords in URLs replaced by ``***``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in {"redis_url", "broker_url"}:
                value = redact_url(value)
            out[f.name] = value
        return out


def _resource_path(name: str, project: str, kind: str) -> str:
    if name.startswith("projects/"):
        return name
    if not project:
        raise ConfigError(f"VBQ_PROJECT is required to build the {kind} path of {name!r}")
    return f"projects/{project}/{kind}/{name}"
