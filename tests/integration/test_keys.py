"""Signing keys on disk: the rules of SPEC "Keys"."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.errors import ConfigError
from app.keys.ring import ensure_keys, generate_key, list_keys, load_keyring, retire_key, rotate_key

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_fresh_dev_machine_gets_a_key_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="statuspass.keys"):
        ring = ensure_keys(tmp_path / "keys", production=False, now=NOW)
    assert "generated signing key" in caplog.text and ring.active.kid in caplog.text
    assert oct(os.stat(tmp_path / "keys" / f"{ring.active.kid}.pem").st_mode)[-3:] == "600"
    assert oct(os.stat(tmp_path / "keys" / "pseudonym.key").st_mode)[-3:] == "600"
    again = ensure_keys(tmp_path / "keys", production=False, now=NOW)
    assert again.active.kid == ring.active.kid  # never a silent new key


def test_production_refuses_to_invent_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="production"):
        ensure_keys(tmp_path / "keys", production=True)
    assert not (tmp_path / "keys").exists() or not any((tmp_path / "keys").iterdir())


def test_key_readable_by_others_stops_the_service(tmp_path: Path) -> None:
    entry = generate_key(tmp_path, now=NOW)
    (tmp_path / f"{entry.kid}.pem").chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_keyring(tmp_path)


def test_corrupt_or_wrong_curve_key_stops_the_service(tmp_path: Path) -> None:
    entry = generate_key(tmp_path, now=NOW)
    pem = tmp_path / f"{entry.kid}.pem"
    pem.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match="not a readable private key"):
        load_keyring(tmp_path)
    p384 = ec.generate_private_key(ec.SECP384R1())
    pem.write_bytes(
        p384.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ConfigError, match="P-256"):
        load_keyring(tmp_path)
    # and nothing was replaced behind the operator's back
    assert [e.kid for e in list_keys(tmp_path)] == [entry.kid]


def test_encrypted_keys_need_the_passphrase(tmp_path: Path) -> None:
    generate_key(tmp_path, now=NOW, passphrase="correct horse")
    assert load_keyring(tmp_path, "correct horse").active
    with pytest.raises(ConfigError):
        load_keyring(tmp_path)
    with pytest.raises(ConfigError):
        load_keyring(tmp_path, "wrong")


def test_rotation_keeps_the_old_public_key_until_its_tokens_expire(tmp_path: Path) -> None:
    old = generate_key(tmp_path, now=NOW)
    new = rotate_key(tmp_path, max_token_lifetime_s=900, now=NOW)
    ring = load_keyring(tmp_path)
    assert ring.active.kid == new.kid
    assert not (tmp_path / f"{old.kid}.pem").exists()  # it signs no more
    published = {k.kid for k in ring.published(NOW + timedelta(seconds=899))}
    assert published == {old.kid, new.kid}
    assert {k.kid for k in ring.published(NOW + timedelta(seconds=901))} == {new.kid}
    for key in ring.published(NOW):
        assert "d" not in key.to_jwk()


def test_retire_withdraws_a_key_at_once(tmp_path: Path) -> None:
    old = generate_key(tmp_path, now=NOW)
    rotate_key(tmp_path, max_token_lifetime_s=10**6, now=NOW)
    with pytest.raises(ConfigError, match="active"):
        retire_key(tmp_path, load_keyring(tmp_path).active.kid)
    retire_key(tmp_path, old.kid, now=NOW)
    assert old.kid not in {k.kid for k in load_keyring(tmp_path).published(NOW)}


def test_eddsa_keys_are_supported(tmp_path: Path) -> None:
    generate_key(tmp_path, alg="EdDSA", now=NOW)
    ring = load_keyring(tmp_path)
    assert ring.active.alg == "EdDSA"
    assert ring.published(NOW)[0].to_jwk()["crv"] == "Ed25519"


def test_a_folder_with_only_the_dev_idp_key_is_fresh(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "dev-idp.pem").write_bytes(b"dev idp key")
    (keys / "dev-idp.pem").chmod(0o600)
    ring = ensure_keys(keys, production=False, now=NOW)
    assert ring.active.kid in {e.kid for e in list_keys(keys)}
