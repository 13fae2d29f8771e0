from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from vbq.errors import ConfigError
from vbq.producers.api.auth import (
    ApiKeyRing,
    generate_api_key,
    hash_api_key,
    key_file_line,
)


def test_generated_keys_are_prefixed_base62_and_unique() -> None:
    keys = {generate_api_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert re.fullmatch(r"vbq_[A-Za-z0-9]{32}", key), key


def test_hash_is_sha256_hex_of_the_key() -> None:
    key = generate_api_key()
    assert hash_api_key(key) == hashlib.sha256(key.encode()).hexdigest()
    assert hash_api_key(key) != hash_api_key(key + "x")


def test_ring_maps_keys_to_tenants_and_refuses_others() -> None:
    a, b = generate_api_key(), generate_api_key()
    ring = ApiKeyRing.from_mapping({hash_api_key(a): "team-a", hash_api_key(b): "team-b"})
    assert ring.tenant_for(a) == "team-a"
    assert ring.tenant_for(b) == "team-b"
    assert ring.tenant_for(generate_api_key()) is None
    assert ring.tenant_for("") is None
    assert ring.tenant_for(None) is None
    # The stored hash itself is not a key.
    assert ring.tenant_for(hash_api_key(a)) is None


def test_ring_compares_every_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [generate_api_key() for _ in range(5)]
    ring = ApiKeyRing.from_mapping({hash_api_key(k): f"t{i}" for i, k in enumerate(keys)})
    calls: list[int] = []
    import hmac

    real = hmac.compare_digest

    def counting(x: bytes, y: bytes) -> bool:
        calls.append(1)
        return real(x, y)

    monkeypatch.setattr("vbq.producers.api.auth.hmac.compare_digest", counting)
    assert ring.tenant_for(keys[0]) == "t0"
    assert len(calls) == 5  # no early exit on the first entry


def test_key_file_line_loads_back_as_yaml(tmp_path: Path) -> None:
    key = generate_api_key()
    path = tmp_path / "keys.yaml"
    path.write_text("# keys\n" + key_file_line(key, "team-x") + "\n")
    assert ApiKeyRing.from_file(path).tenant_for(key) == "team-x"


def test_json_file_and_keys_section(tmp_path: Path) -> None:
    key = generate_api_key()
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": {hash_api_key(key): "t1"}}))
    ring = ApiKeyRing.from_file(path)
    assert len(ring) == 1
    assert ring.tenant_for(key) == "t1"


@pytest.mark.parametrize(
    "content",
    [
        "not-a-hash: team\n",
        f"{'a' * 64}: Bad Tenant\n",
        "- just\n- a list\n",
        "{unclosed: [\n",
    ],
)
def test_bad_key_files_are_config_errors(tmp_path: Path, content: str) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError):
        ApiKeyRing.from_file(path)


def test_missing_key_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        ApiKeyRing.from_file(tmp_path / "nope.yaml")


def test_reloading_ring_picks_up_added_and_revoked_keys(tmp_path: Path) -> None:
    from vbq.producers.api.auth import ReloadingKeyRing

    old, new = generate_api_key(), generate_api_key()
    path = tmp_path / "keys.yaml"
    path.write_text(key_file_line(old, "t-old") + "\n")
    ring = ReloadingKeyRing(path, check_interval_s=0.0)
    assert ring.tenant_for(old) == "t-old"
    assert ring.tenant_for(new) is None
    path.write_text(key_file_line(old, "t-old") + "\n" + key_file_line(new, "t-new") + "\n")
    assert ring.tenant_for(new) == "t-new"
    # A broken edit keeps the last good keys instead of locking everyone out.
    path.write_text("{broken: [\n")
    assert ring.tenant_for(new) == "t-new" and len(ring) == 2
    path.write_text(key_file_line(new, "t-new") + "\n")  # revoke the old key
    assert ring.tenant_for(old) is None
    assert ring.tenant_for(new) == "t-new"


def test_reloading_ring_checks_at_most_every_interval(tmp_path: Path) -> None:
    from vbq.producers.api.auth import ReloadingKeyRing

    key = generate_api_key()
    path = tmp_path / "keys.yaml"
    path.write_text("{}\n")
    ring = ReloadingKeyRing(path, check_interval_s=3600.0)
    path.write_text(key_file_line(key, "t") + "\n")
    assert ring.tenant_for(key) is None  # not re-read within the interval


def test_admin_keys_are_tenant_star_and_their_line_is_valid_yaml(tmp_path: Path) -> None:
    admin, tenant = generate_api_key(), generate_api_key()
    keys = tmp_path / "keys.yaml"
    keys.write_text(key_file_line(admin, "*") + "\n" + key_file_line(tenant, "team-a") + "\n")
    assert key_file_line(admin, "*").endswith(': "*"')
    ring = ApiKeyRing.from_file(keys)
    assert ring.tenant_for(admin) == "*" and ring.tenant_for(tenant) == "team-a"
    for bad in ("**", "a*", "*a"):
        with pytest.raises(ConfigError, match="admin key"):
            ApiKeyRing.from_mapping({hash_api_key(admin): bad})
