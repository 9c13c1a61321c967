"""The audit key: the Ed25519 key that signs audit checkpoints, under `STATUSPASS_KEYS_DIR`.

Layout (beside the proof-signing keys, never mixed with them):
    audit-keys.json      every audit key's name, key id, public key and state
    audit-<key id>.pem   PKCS#8 private key of the active audit key, mode 0600

It is a key of its own so that nothing signed with it can pass for a proof: it is not in
the key ring, not in the JWKS, and the proof verifier never sees it. Its public parts
are published as signed-note verifier keys (`/.well-known/statuspass-audit-key`).

The rules are the signing keys' (SPEC "Keys"): generated only on a development machine
that has none; production refuses to start without one; a corrupt file, a key of
another type or a file readable by others stops the service. Rotation: a new key signs
from now on; the old public key stays listed for good (old checkpoints must still
verify) and its private key is deleted.
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.audit.checkpoints import key_id, verifier_key
from app.errors import ConfigError
from app.keys import files

__all__ = [
    "AUDIT_KEYS",
    "AuditKeyEntry",
    "AuditKeys",
    "ensure_audit_key",
    "load_audit_keys",
    "rotate_audit_key",
]

log = logging.getLogger("statuspass.keys")

AUDIT_KEYS = "audit-keys.json"


class AuditKeyEntry(msgspec.Struct, kw_only=True):
    name: str
    key_id: str  # hex, the 4-byte id of c2sp.org/signed-note
    public: str  # base64 of the 32-byte Ed25519 public key
    state: Literal["active", "retired"]
    created_at: datetime
    retired_at: datetime | None = None

    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(self.public))

    def verifier_key(self) -> str:
        return verifier_key(self.name, self.public_key())


class _File(msgspec.Struct):
    keys: list[AuditKeyEntry]


class AuditKeys(msgspec.Struct, frozen=True):
    """The active audit key and every public audit key ever used."""

    name: str
    private: Ed25519PrivateKey
    entries: tuple[AuditKeyEntry, ...]

    def verifiers(self) -> dict[tuple[str, bytes], Ed25519PublicKey]:
        return public_keys(self.entries)


def public_keys(
    entries: tuple[AuditKeyEntry, ...] | list[AuditKeyEntry],
) -> dict[tuple[str, bytes], Ed25519PublicKey]:
    return {(e.name, bytes.fromhex(e.key_id)): e.public_key() for e in entries}


def read_entries(keys_dir: str | Path) -> list[AuditKeyEntry]:
    path = Path(keys_dir) / AUDIT_KEYS
    if not path.exists():
        return []
    try:
        entries = msgspec.json.decode(path.read_bytes(), type=_File).keys
        for e in entries:  # a public key that does not parse is a corrupt file too
            if key_id(e.name, e.public_key()).hex() != e.key_id:
                raise ValueError(f"key id {e.key_id} does not match its public key")
    except (OSError, ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"{path} is corrupt: {exc}") from exc
    return entries


def _write_entries(root: Path, entries: list[AuditKeyEntry]) -> None:
    data = msgspec.json.format(msgspec.json.encode(_File(entries)), indent=2)
    files.write_private(root / AUDIT_KEYS, data + b"\n")


def load_audit_keys(keys_dir: str | Path, passphrase: str | None = None) -> AuditKeys:
    """Load and check the audit key. Raises ConfigError on anything unexpected."""
    root = Path(keys_dir)
    entries = read_entries(root)
    entry = files.only_active(root, entries, "one active audit key")
    path = root / f"audit-{entry.key_id}.pem"
    if not path.exists():
        raise ConfigError(f"{path} is missing: the active audit key cannot sign")
    key = files.read_private_key(path, passphrase)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: an audit key must be Ed25519")
    if key_id(entry.name, key.public_key()).hex() != entry.key_id:
        raise ConfigError(f"{path} does not match the public key recorded in {AUDIT_KEYS}")
    return AuditKeys(name=entry.name, private=key, entries=tuple(entries))


def _new_entry(root: Path, name: str, now: datetime, passphrase: str | None) -> AuditKeyEntry:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise ConfigError(f"audit key name {name!r} must be one word without '+'")
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    ident = key_id(name, public).hex()
    files.write_private_key(root / f"audit-{ident}.pem", private, passphrase)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return AuditKeyEntry(
        name=name,
        key_id=ident,
        public=base64.b64encode(raw).decode("ascii"),
        state="active",
        created_at=now,
    )


def rotate_audit_key(
    keys_dir: str | Path,
    *,
    name: str | None = None,
    now: datetime | None = None,
    passphrase: str | None = None,
) -> AuditKeyEntry:
    """A new audit key signs checkpoints from now on (the first one if there is none);
    the old one's public key stays listed, its private key is deleted."""
    root = Path(keys_dir)
    now = now or datetime.now(UTC)
    with files.locked_keys_dir(root):
        entries = read_entries(root)
        current = [e for e in entries if e.state == "active"]
        new_name = name or (current[0].name if current else None)
        if new_name is None:
            raise ConfigError("the first audit key needs a name (the log's origin)")
        entry = _new_entry(root, new_name, now, passphrase)
        for old in current:
            old.state = "retired"
            old.retired_at = now
        _write_entries(root, [*entries, entry])
        for old in current:
            (root / f"audit-{old.key_id}.pem").unlink(missing_ok=True)
        return entry


def ensure_audit_key(
    keys_dir: str | Path,
    *,
    name: str,
    production: bool,
    passphrase: str | None = None,
) -> AuditKeys:
    """Load the audit key; on a development machine that has none, create it and say so."""
    root = Path(keys_dir)
    has_any = root.exists() and any(
        p.name == AUDIT_KEYS or p.name.startswith("audit-") for p in root.iterdir()
    )
    if not has_any:
        if production:
            raise ConfigError(
                f"no audit key in {root} and STATUSPASS_ENV=production: create it with "
                "`statuspass keys generate` or `statuspass audit rotate-key --name ORIGIN` "
                "(refusing to invent keys)"
            )
        with files.locked_keys_dir(root):
            if not (root / AUDIT_KEYS).exists():  # another worker may have won the race
                entry = _new_entry(root, name, datetime.now(UTC), passphrase)
                _write_entries(root, [entry])
                log.warning("fresh machine: generated audit key %s+%s", name, entry.key_id)
    return load_audit_keys(root, passphrase)
