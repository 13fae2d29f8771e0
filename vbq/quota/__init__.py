"""Google's quota, held globally in Redis: create/read rate limits and in-flight slots.

Every worker process on every host asks the same Redis keys, on the Redis server's clock, so
the limits hold across the whole deployment (invariant 4, docs/architecture.md § Invariants).
Workers take and release; producers (the bridge's backpressure) and operators' views only count.
"""

from vbq.quota.adaptive import EffectiveRate, read_rates, record_throttled
from vbq.quota.ratelimit import KINDS, Decision, RateLimiter, gcra_params, rate_key
from vbq.quota.slots import Slots, model_slots_key, slots_key

__all__ = [
    "KINDS",
    "Decision",
    "EffectiveRate",
    "RateLimiter",
    "Slots",
    "gcra_params",
    "model_slots_key",
    "rate_key",
    "read_rates",
    "record_throttled",
    "slots_key",
]
