"""``Settings.from_env()``: every ``VBQ_*`` variable (and Google's ``PUBSUB_EMULATOR_HOST`` and
``STORAGE_EMULATOR_HOST``) read into one :class:`~vbq.settings.Settings`, then checked as a
whole (:mod:`vbq.settings.checks`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import TYPE_CHECKING

from vbq.settings.checks import check_settings
from vbq.settings.parsing import env_bool, env_float, env_int, env_list, env_share

if TYPE_CHECKING:
    from vbq.settings.settings import Settings

__all__ = ["read_settings"]

_ALSO_KNOWN = {"VBQ_EVENTS_SUBSCRIPTION", "VBQ_DEAD_LETTER_TOPIC", "VBQ_DISPATCHER"}


def read_settings(cls: type[Settings], e: Mapping[str, str]) -> Settings:
    """Build ``cls`` from the variables in ``e``.

    Raises:
        ConfigError: a variable is present but malformed (names the variable).
    """
    redis_url = e.get("VBQ_REDIS_URL", cls.redis_url).strip() or cls.redis_url
    known = {f"VBQ_{f.name.upper()}" for f in fields(cls)}
    settings = cls(
        redis_url=redis_url,
        broker_url=e.get("VBQ_BROKER_URL", "").strip() or redis_url,
        redis_failover_timeout_s=env_float(e, "VBQ_REDIS_FAILOVER_TIMEOUT_S", 30.0, minimum=0.0),
        redis_wait_replicas=env_int(
            e, "VBQ_REDIS_WAIT_REPLICAS", 1 if _is_sentinel(redis_url) else 0
        ),
        redis_wait_timeout_s=env_float(e, "VBQ_REDIS_WAIT_TIMEOUT_S", 2.0, minimum=0.001),
        project=e.get("VBQ_PROJECT", "").strip(),
        location=e.get("VBQ_LOCATION", cls.location).strip() or cls.location,
        vertex_endpoint=e.get("VBQ_VERTEX_ENDPOINT", "").strip().rstrip("/"),
        events_topic=e.get("VBQ_EVENTS_TOPIC", cls.events_topic).strip() or cls.events_topic,
        events_subscription=e.get("VBQ_EVENTS_SUBSCRIPTION", cls.events_subscription).strip()
        or cls.events_subscription,
        dead_letter_topic=e.get("VBQ_DEAD_LETTER_TOPIC", cls.dead_letter_topic).strip()
        or cls.dead_letter_topic,
        event_types=env_list(e, "VBQ_EVENT_TYPES", ()),
        events_schema=e.get("VBQ_EVENTS_SCHEMA", cls.events_schema).strip(),
        pubsub_emulator_host=e.get("PUBSUB_EMULATOR_HOST", "").strip(),
        storage_emulator_host=e.get("STORAGE_EMULATOR_HOST", "").strip(),
        create_rate_per_min=env_float(e, "VBQ_CREATE_RATE_PER_MIN", 60.0, minimum=0.001),
        create_burst=env_int(e, "VBQ_CREATE_BURST", 5),
        read_rate_per_min=env_float(e, "VBQ_READ_RATE_PER_MIN", 600.0, minimum=0.001),
        read_burst=env_int(e, "VBQ_READ_BURST", 20),
        rate_limit_margin_s=env_float(e, "VBQ_RATE_LIMIT_MARGIN_S", 0.15),
        adaptive_rate=env_bool(e, "VBQ_ADAPTIVE_RATE", True),
        adaptive_decrease_factor=env_share(e, "VBQ_ADAPTIVE_DECREASE_FACTOR", 0.5),
        adaptive_decrease_interval_s=env_float(e, "VBQ_ADAPTIVE_DECREASE_INTERVAL_S", 1.0),
        adaptive_quiet_s=env_float(e, "VBQ_ADAPTIVE_QUIET_S", 5.0),
        adaptive_increase_share_per_s=env_float(
            e, "VBQ_ADAPTIVE_INCREASE_SHARE_PER_S", 0.025, minimum=1e-6
        ),
        adaptive_min_share=env_share(e, "VBQ_ADAPTIVE_MIN_SHARE", 0.05),
        max_in_flight=env_int(e, "VBQ_MAX_IN_FLIGHT", 100, minimum=1),
        max_in_flight_per_model=env_int(e, "VBQ_MAX_IN_FLIGHT_PER_MODEL", 0),
        locations=e.get("VBQ_LOCATIONS", "").strip(),
        location_limits=e.get("VBQ_LOCATION_LIMITS", "").strip(),
        model_locations=e.get("VBQ_MODEL_LOCATIONS", "").strip(),
        tenant_max_queued=env_int(e, "VBQ_TENANT_MAX_QUEUED", 0),
        tenant_max_in_flight=env_int(e, "VBQ_TENANT_MAX_IN_FLIGHT", 0),
        tenant_overrides=e.get("VBQ_TENANT_OVERRIDES", "").strip(),
        max_attempts=env_int(e, "VBQ_MAX_ATTEMPTS", 8, minimum=1),
        retry_base_s=env_float(e, "VBQ_RETRY_BASE_S", 1.0),
        retry_max_s=env_float(e, "VBQ_RETRY_MAX_S", 300.0),
        visibility_timeout_s=env_int(e, "VBQ_VISIBILITY_TIMEOUT_S", 3600, minimum=10),
        http_timeout_s=env_float(e, "VBQ_HTTP_TIMEOUT_S", 30.0, minimum=0.1),
        poll_interval_s=env_float(e, "VBQ_POLL_INTERVAL_S", 10.0, minimum=0.01),
        poll_max_interval_s=env_float(e, "VBQ_POLL_MAX_INTERVAL_S", 60.0, minimum=0.01),
        poll_page_size=env_int(e, "VBQ_POLL_PAGE_SIZE", 100, minimum=1),
        stale_after_s=env_float(e, "VBQ_STALE_AFTER_S", 72 * 3600 + 3600),
        inbox_ttl_s=env_int(e, "VBQ_INBOX_TTL_S", 7 * 24 * 3600, minimum=1),
        subscriber_max_messages=env_int(e, "VBQ_SUBSCRIBER_MAX_MESSAGES", 100, minimum=1),
        shutdown_grace_s=env_float(e, "VBQ_SHUTDOWN_GRACE_S", 30.0),
        push_port=env_int(e, "VBQ_PUSH_PORT", env_int(e, "PORT", 8080)),
        push_audience=e.get("VBQ_PUSH_AUDIENCE", "").strip(),
        push_service_account=e.get("VBQ_PUSH_SERVICE_ACCOUNT", "").strip(),
        push_issuers=env_list(e, "VBQ_PUSH_ISSUERS", cls.push_issuers),
        push_certs_url=e.get("VBQ_PUSH_CERTS_URL", "").strip() or cls.push_certs_url,
        metrics_port=env_int(e, "VBQ_METRICS_PORT", 0),
        metrics_host=e.get("VBQ_METRICS_HOST", "").strip() or cls.metrics_host,
        log_format=e.get("VBQ_LOG_FORMAT", "auto").strip().lower() or "auto",
        log_level=e.get("VBQ_LOG_LEVEL", "INFO").strip().upper() or "INFO",
        api_keys_file=e.get("VBQ_API_KEYS_FILE", "").strip(),
        api_max_body_bytes=env_int(e, "VBQ_API_MAX_BODY_BYTES", 1_048_576, minimum=1024),
        pack_prefix=e.get("VBQ_PACK_PREFIX", "").strip().rstrip("/"),
        pack_max_rows=env_int(e, "VBQ_PACK_MAX_ROWS", 200_000, minimum=1),
        pack_max_bytes=env_int(e, "VBQ_PACK_MAX_BYTES", 999_000_000, minimum=1024),
        pack_max_wait_s=env_float(e, "VBQ_PACK_MAX_WAIT_S", 300.0, minimum=0.01),
        pack_share_tenants=env_bool(e, "VBQ_PACK_SHARE_TENANTS", False),
        request_models=env_list(e, "VBQ_REQUEST_MODELS", ()),
        request_events=env_bool(e, "VBQ_REQUEST_EVENTS", False),
        request_ttl_s=env_int(e, "VBQ_REQUEST_TTL_S", 7 * 24 * 3600, minimum=60),
        token_accounting=env_bool(e, "VBQ_TOKEN_ACCOUNTING", True),
        price_table=e.get("VBQ_PRICE_TABLE", "").strip(),
        results_timeout_s=env_float(e, "VBQ_RESULTS_TIMEOUT_S", 3600.0, minimum=1.0),
        split_inputs=env_bool(e, "VBQ_SPLIT_INPUTS", True),
        retention_s=env_int(e, "VBQ_RETENTION_S", 7 * 24 * 3600, minimum=0),
        archive_prefix=e.get("VBQ_ARCHIVE_PREFIX", "").strip().rstrip("/"),
        archive_index_ttl_s=env_int(e, "VBQ_ARCHIVE_INDEX_TTL_S", 30 * 24 * 3600, minimum=60),
        retention_batch=env_int(e, "VBQ_RETENTION_BATCH", 500, minimum=1),
        extra={
            k: v
            for k, v in e.items()
            if k.startswith("VBQ_") and k not in known and k not in _ALSO_KNOWN
        },
    )
    check_settings(settings)
    return settings


def _is_sentinel(url: str) -> bool:
    # vbq.redisconn.SENTINEL_SCHEME; not imported (redisconn builds clients from Settings).
    return url.split("://", 1)[0].lower() == "redis+sentinel"
