"""The audit key on disk and where it is published: the signing keys' rules, a key of
its own that no proof verifier accepts, and the checkpoints it signs."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from factories import T0, make_event
from litestar.testing import AsyncTestClient

from app.api import create_app
from app.audit.checkpoints import CheckpointError, open_note, parse_verifier_key
from app.audit.service import sign_checkpoint
from app.cli import main
from app.config import load_settings
from app.errors import ConfigError
from app.keys.audit import AUDIT_KEYS, ensure_audit_key, load_audit_keys, rotate_audit_key
from app.storage import open_store

NAME = "statuspass.example.org/audit"


def test_fresh_dev_machine_gets_an_audit_key_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="statuspass.keys"):
        keys = ensure_audit_key(tmp_path, name=NAME, production=False)
    ident = keys.entries[0].key_id
    assert f"generated audit key {NAME}+{ident}" in caplog.text
    assert oct(os.stat(tmp_path / f"audit-{ident}.pem").st_mode)[-3:] == "600"
    assert oct(os.stat(tmp_path / AUDIT_KEYS).st_mode)[-3:] == "600"
    again = ensure_audit_key(tmp_path, name=NAME, production=False)
    assert again.entries == keys.entries  # never a silent new key


def test_production_refuses_without_an_audit_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no audit key .*production"):
        ensure_audit_key(tmp_path, name=NAME, production=True)
    assert not list(tmp_path.iterdir())


def test_bad_audit_key_files_stop_the_service(tmp_path: Path) -> None:
    entry = rotate_audit_key(tmp_path, name=NAME)
    pem = tmp_path / f"audit-{entry.key_id}.pem"
    pem.chmod(0o640)
    with pytest.raises(ConfigError, match="chmod 600"):
        ensure_audit_key(tmp_path, name=NAME, production=False)
    pem.chmod(0o600)
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pem.write_bytes(other)
    with pytest.raises(ConfigError, match="must be Ed25519"):
        ensure_audit_key(tmp_path, name=NAME, production=False)
    pem.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match="not a readable private key"):
        ensure_audit_key(tmp_path, name=NAME, production=False)
    pem.unlink()
    with pytest.raises(ConfigError, match="missing"):  # not replaced by a new one
        ensure_audit_key(tmp_path, name=NAME, production=False)
    (tmp_path / AUDIT_KEYS).write_text("{not json")
    with pytest.raises(ConfigError, match="corrupt"):
        ensure_audit_key(tmp_path, name=NAME, production=False)


async def test_rotation_keeps_old_checkpoints_verifiable(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    first = rotate_audit_key(keys_dir, name=NAME)
    store = await open_store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    try:
        await store.append_audit(make_event("client_add"))
        old = load_audit_keys(keys_dir)
        note1 = await sign_checkpoint(store, old.name, old.private, T0)
        second = rotate_audit_key(keys_dir)
        assert not (keys_dir / f"audit-{first.key_id}.pem").exists()  # it signs no more
        new = load_audit_keys(keys_dir)
        await store.append_audit(make_event("client_add"))
        note2 = await sign_checkpoint(store, new.name, new.private, T0)
    finally:
        await store.close()
    assert note1 is not None and note2 is not None
    verifiers = new.verifiers()
    assert open_note(note1, verifiers)[1] == f"{NAME}+{first.key_id}"
    assert open_note(note2, verifiers)[1] == f"{NAME}+{second.key_id}"


async def test_audit_key_is_published_apart_from_proof_keys(tmp_path: Path) -> None:
    settings = load_settings(
        {}, keys_dir=str(tmp_path / "keys"), store_url=f"sqlite:///{tmp_path / 's.sqlite3'}"
    )
    async with AsyncTestClient(app=create_app(settings)) as http:
        lines = (await http.get("/.well-known/statuspass-audit-key")).text.splitlines()
        jwks = (await http.get("/.well-known/jwks.json")).json()
        meta = (await http.get("/.well-known/statuspass")).json()
    name, ident, public = parse_verifier_key(lines[0])
    assert name == "127.0.0.1:8000/audit"  # the issuer's host, as no origin was set
    assert meta["audit_key_uri"].endswith("/.well-known/statuspass-audit-key")
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    # nowhere among the proof keys: a proof verifier cannot be handed it
    assert all(k.get("crv") != "Ed25519" or k.get("x") != raw for k in jwks["keys"])
    assert all(k["use"] == "sig" for k in jwks["keys"])
    assert ident.hex() == load_audit_keys(tmp_path / "keys").entries[0].key_id


async def test_the_service_signs_at_shutdown_and_the_cli_prints_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    store = await open_store(url)
    try:
        await store.append_audit(make_event("client_add"))  # written while no worker ran
    finally:
        await store.close()
    settings = load_settings({}, keys_dir=str(tmp_path / "keys"), store_url=url)
    async with AsyncTestClient(app=create_app(settings)) as http:
        assert (await http.get("/health")).status_code == 200
    store = await open_store(url)
    try:
        notes = await store.checkpoints()
    finally:
        await store.close()
    assert len(notes) == 1
    keys = load_audit_keys(tmp_path / "keys")
    checkpoint, _ = open_note(notes[0], keys.verifiers())
    assert checkpoint.size == 1 and checkpoint.origin == "127.0.0.1:8000/audit"
    with pytest.raises(CheckpointError):
        open_note(notes[0].replace(b"\n1\n", b"\n2\n"), keys.verifiers())
    monkeypatch.setenv("STATUSPASS_STORE_URL", url)
    monkeypatch.setenv("STATUSPASS_KEYS_DIR", str(tmp_path / "keys"))
    capsys.readouterr()
    assert await _cli("audit", "checkpoint") == 0
    assert capsys.readouterr().out.encode() == notes[0]


async def _cli(*argv: str) -> int:
    import asyncio

    # main() runs its own event loop: off this test's loop
    return await asyncio.to_thread(main, list(argv))
