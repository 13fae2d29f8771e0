"""API keys: only hashes are stored, and lookup compares every entry in constant time."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest

from vbq.producers.api import auth
from vbq.producers.api.auth import ApiKeyRing, generate_api_key, hash_api_key, key_file_line


@pytest.fixture
def compare_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Every ``hmac.compare_digest`` call the key ring makes."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    return calls


def test_lookup_compares_every_entry_whether_the_match_is_first_last_or_absent(
    compare_calls: list[tuple[bytes, bytes]],
) -> None:
    keys = [generate_api_key() for _ in range(7)]
    ring = ApiKeyRing.from_mapping({hash_api_key(k): f"t{i}" for i, k in enumerate(keys)})
    for key, tenant in ((keys[0], "t0"), (keys[-1], "t6"), (generate_api_key(), None)):
        compare_calls.clear()
        assert ring.tenant_for(key) == tenant
        # No early exit: the work does not depend on where (or whether) the key matched.
        assert len(compare_calls) == len(keys)
        # What is compared is the digest of the presented key, never the key itself.
        presented = {a for a, _ in compare_calls}
        assert presented == {hash_api_key(key).encode()}


def test_only_the_sha256_of_a_key_is_written_to_the_keys_file(tmp_path: Path) -> None:
    key = generate_api_key()
    line = key_file_line(key, "team-a")
    assert key not in line
    assert hashlib.sha256(key.encode()).hexdigest() in line
    path = tmp_path / "keys.yaml"
    path.write_text(line + "\n")
    ring = ApiKeyRing.from_file(path)
    assert ring.tenant_for(key) == "team-a"
    assert all(key not in digest for digest, _ in ring.entries)
    # Presenting the stored hash as if it were a key must not authenticate.
    assert ring.tenant_for(hash_api_key(key)) is None


def test_keys_have_enough_entropy_and_come_from_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    picks: list[str] = []
    real_choice = auth.secrets.choice

    def spy(seq: Any) -> Any:
        value = real_choice(seq)
        picks.append(value)
        return value

    monkeypatch.setattr(auth.secrets, "choice", spy)
    key = generate_api_key()
    assert len(picks) == 32  # 32 base62 characters: ~190 bits from the CSPRNG
    assert key == "vbq_" + "".join(picks)
