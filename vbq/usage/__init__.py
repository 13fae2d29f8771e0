"""Token accounting: counts per response, per job, tenant and model, and estimated cost.

:class:`Tokens` reads ``usageMetadata``; :func:`price_table` loads ``VBQ_PRICE_TABLE``;
:mod:`vbq.usage.ledger` keeps the per-tenant and per-model totals in Redis.
"""

from vbq.usage.ledger import UsageLedger, UsageTotals
from vbq.usage.prices import ModelPrice, PriceTable, price_table
from vbq.usage.tokens import Tokens

__all__ = ["ModelPrice", "PriceTable", "Tokens", "UsageLedger", "UsageTotals", "price_table"]
