"""Token counts, the price table and the usage ledger's increments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vbq.errors import ConfigError
from vbq.usage import Tokens, price_table
from vbq.usage.ledger import increments


def test_tokens_from_usage_metadata_and_back() -> None:
    meta = {"promptTokenCount": 10, "candidatesTokenCount": "5", "thoughtsTokenCount": 2}
    tokens = Tokens.from_usage_metadata(meta)
    assert tokens == Tokens(prompt=10, candidates=5, thoughts=2, cached=0, total=17)
    assert Tokens.decode(tokens.encode()) == tokens
    assert Tokens.from_dict(tokens.to_dict()) == tokens
    assert tokens + tokens == Tokens(20, 10, 4, 0, 34)
    assert Tokens.from_usage_metadata("junk") == Tokens() and not Tokens()
    assert Tokens.from_usage_metadata({"totalTokenCount": True}).total == 0


def test_price_table_inline_file_and_patterns(tmp_path: Path) -> None:
    table = {
        "currency": "EUR",
        "models": {
            "gemini-2.0-flash-001": {"prompt_per_million": 1.0, "candidates_per_million": 4.0},
            "gemini-2.5-*": {
                "prompt_per_million": 2.0,
                "candidates_per_million": 8.0,
                "cached_per_million": 0.5,
            },
        },
    }
    inline = price_table(json.dumps(table))
    assert inline is not None and inline.currency == "EUR"
    tokens = Tokens(prompt=1_000_000, candidates=500_000, thoughts=500_000, cached=0, total=0)
    assert inline.cost("publishers/google/models/gemini-2.0-flash-001", tokens) == pytest.approx(
        5.0
    )
    cached = Tokens(prompt=1_000_000, candidates=0, thoughts=0, cached=400_000, total=0)
    assert inline.cost("gemini-2.5-pro", cached) == pytest.approx(0.6 * 2 + 0.4 * 0.5)
    assert inline.cost("gemini-1.5-pro", tokens) is None
    path = tmp_path / "prices.yaml"
    path.write_text(
        "currency: USD\nmodels:\n  gemini-2.0-flash-001:\n    prompt_per_million: 0.1\n"
        "    candidates_per_million: 0.4\n"
    )
    from_file = price_table(str(path))
    assert from_file is not None and from_file.price_for("gemini-2.0-flash-001") is not None
    assert price_table("") is None


@pytest.mark.parametrize(
    "setting",
    [
        "{nope",
        '{"models": {"m": {"prompt_per_million": -1, "candidates_per_million": 1}}}',
        '{"currency": "USD"}',
        "/no/such/file.json",
    ],
)
def test_bad_price_tables_are_config_errors(setting: str) -> None:
    with pytest.raises(ConfigError):
        price_table(setting)


def test_increments_per_tenant_of_a_shared_pack_and_per_model() -> None:
    results = {
        "requests": 3,
        "succeeded": 2,
        "failed": 1,
        "usage": {"prompt": 6, "candidates": 4, "total": 10},
        "cost": 0.5,
        "by_tenant": {
            "a": {
                "requests": 2,
                "succeeded": 2,
                "usage": {"prompt": 6, "candidates": 4, "total": 10},
            },
            "b": {"requests": 1, "failed": 1, "usage": {}},
        },
    }
    flat = increments(results, tenant="vbq-packs", model="publishers/google/models/gemini-x")
    quads = {(flat[i], flat[i + 1], flat[i + 2]): int(flat[i + 3]) for i in range(0, len(flat), 4)}
    assert quads[("tenant", "a", "total")] == 10 and quads[("tenant", "b", "failed")] == 1
    assert ("tenant", "vbq-packs", "jobs") not in quads
    assert quads[("model", "publishers/google/models/gemini-x", "cost_micros")] == 500_000
    single = increments({"requests": 1, "usage": {"total": 3}}, tenant="t", model="m")
    assert single[:4] == ["tenant", "t", "total", "3"]
