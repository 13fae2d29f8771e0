"""An optional price table that turns token counts into an estimated cost.

The table is configuration (``VBQ_PRICE_TABLE``: JSON text, or the path of a JSON or YAML
file), never hard-coded prices: Google's batch prices change and differ per model::

    {"currency": "USD",
     "models": {"gemini-2.0-flash-001": {"prompt_per_million": 0.05,
                                          "candidates_per_million": 0.2},
                "gemini-2.5-*": {"prompt_per_million": 0.625, "candidates_per_million": 5.0,
                                 "cached_per_million": 0.15625}}}

A model is looked up by its id (``gemini-2.0-flash-001``), first exactly, then by the longest
matching ``*`` pattern. Thinking tokens are billed as output (``candidates_per_million``);
cached prompt tokens at ``cached_per_million`` when given, else as prompt tokens.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from vbq.errors import ConfigError
from vbq.usage.tokens import Tokens

__all__ = ["ModelPrice", "PriceTable", "price_table"]

_KEYS = ("prompt_per_million", "candidates_per_million", "cached_per_million")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Prices per million tokens."""

    prompt_per_million: float
    candidates_per_million: float
    cached_per_million: float | None = None

    def cost(self, tokens: Tokens) -> float:
        """Estimated cost of ``tokens`` at these prices."""
        cached = min(tokens.cached, tokens.prompt)
        cached_price = (
            self.prompt_per_million if self.cached_per_million is None else self.cached_per_million
        )
        return (
            (tokens.prompt - cached) * self.prompt_per_million
            + cached * cached_price
            + (tokens.candidates + tokens.thoughts) * self.candidates_per_million
        ) / 1_000_000


@dataclass(frozen=True)
class PriceTable:
    """Model id (or ``*`` pattern) → :class:`ModelPrice`, and the currency."""

    currency: str
    models: Mapping[str, ModelPrice]

    def price_for(self, model: str) -> ModelPrice | None:
        """The price of ``model`` (a resource name or id), or None when the table has none."""
        mid = model.rsplit("/", 1)[-1].split("@", 1)[0]
        if mid in self.models:
            return self.models[mid]
        patterns = [p for p in self.models if "*" in p and fnmatch.fnmatchcase(mid, p)]
        return self.models[max(patterns, key=len)] if patterns else None

    def cost(self, model: str, tokens: Tokens) -> float | None:
        """Estimated cost of ``tokens`` on ``model``, or None when the model has no price."""
        price = self.price_for(model)
        return None if price is None else price.cost(tokens)


def price_table(setting: str) -> PriceTable | None:
    """The table ``VBQ_PRICE_TABLE`` describes, or None when it is empty.

    Raises:
        ConfigError: not JSON, an unreadable file, or a malformed entry (names it).
    """
    if not setting.strip():
        return None
    return _load(setting.strip())


@cache
def _load(setting: str) -> PriceTable:
    if setting.startswith("{"):
        raw: Any = _json(setting, "VBQ_PRICE_TABLE")
    else:
        try:
            text = Path(setting).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"VBQ_PRICE_TABLE: cannot read {setting}: {exc}") from None
        if setting.endswith((".yaml", ".yml")):
            import yaml

            try:
                raw = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ConfigError(f"VBQ_PRICE_TABLE: {setting} is not YAML: {exc}") from None
        else:
            raw = _json(text, setting)
    if not isinstance(raw, Mapping) or not isinstance(raw.get("models"), Mapping):
        raise ConfigError('VBQ_PRICE_TABLE must be {"currency": ..., "models": {id: prices}}')
    models: dict[str, ModelPrice] = {}
    for name, entry in raw["models"].items():
        if not isinstance(entry, Mapping) or not all(
            isinstance(entry.get(k), int | float) and entry[k] >= 0 for k in _KEYS[:2]
        ):
            raise ConfigError(
                f"VBQ_PRICE_TABLE: models.{name} needs prompt_per_million and "
                "candidates_per_million (numbers >= 0)"
            )
        cached = entry.get("cached_per_million")
        models[str(name)] = ModelPrice(
            float(entry["prompt_per_million"]),
            float(entry["candidates_per_million"]),
            float(cached) if isinstance(cached, int | float) else None,
        )
    return PriceTable(currency=str(raw.get("currency") or "USD"), models=models)


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"VBQ_PRICE_TABLE: {where} is not JSON: {exc}") from None
