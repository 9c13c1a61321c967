"""Signing keys and the pseudonymisation secret on disk, under `STATUSPASS_KEYS_DIR`.

Layout:
    keyring.json     every key's public JWK and life cycle (active / retired / withdrawn)
    <kid>.pem        PKCS#8 private key of the active key, mode 0600, optionally encrypted
    pseudonym.key    the HMAC secret that turns an NRN into a record key, mode 0600

Rules (SPEC "Keys"): a fresh development machine gets a first key and says so; production
refuses to start without keys; a corrupt key, an unexpected curve or a file readable by
others stops the service — never a silent new key. Rotation keeps the old public key
published until every token it may have signed has expired.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import msgspec
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from app.errors import ConfigError
from app.keys import files
from app.tokens import PublicKey, SigningKey

__all__ = [
    "KeyEntry",
    "Keyring",
    "ensure_keys",
    "generate_key",
    "load_keyring",
    "retire_key",
    "rotate_key",
]

log = logging.getLogger("statuspass.keys")

KEYRING = "keyring.json"
SECRET = "pseudonym.key"  # noqa: S105 - a file name
State = Literal["active", "retired", "withdrawn"]


class KeyEntry(msgspec.Struct, kw_only=True):
    kid: str
    alg: str
    state: State
    created_at: datetime
    jwk: dict[str, str]
    retired_at: datetime | None = None
    #: the public key stays in the JWKS until then (last possible expiry of its tokens)
    publish_until: datetime | None = None


class _KeyringFile(msgspec.Struct):
    keys: list[KeyEntry]


class Keyring(msgspec.Struct, frozen=True):
    """The keys as loaded: one active signing key, the public keys to publish, the secret."""

    active: SigningKey
    entries: tuple[KeyEntry, ...]
    pseudonym_secret: bytes

    def published(self, now: datetime) -> list[PublicKey]:
        """Public keys verifiers need now: the active one and retired ones still in use."""
        out = []
        for e in self.entries:
            if e.state == "active" or (
                e.state == "retired" and e.publish_until is not None and e.publish_until > now
            ):
                out.append(PublicKey.from_jwk(e.jwk))
        return out

    def verification_keys(self, now: datetime) -> dict[str, PublicKey]:
        return {k.kid: k for k in self.published(now)}


def _read_entries(keys_dir: Path) -> list[KeyEntry]:
    path = keys_dir / KEYRING
    if not path.exists():
        return []
    try:
        return msgspec.json.decode(path.read_bytes(), type=_KeyringFile).keys
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"{path} is corrupt: {exc}") from exc


def _write_entries(keys_dir: Path, entries: list[KeyEntry]) -> None:
    data = json.dumps(msgspec.to_builtins(_KeyringFile(entries)), indent=2).encode()
    files.write_private(keys_dir / KEYRING, data + b"\n")


def _load_private(path: Path, entry: KeyEntry, passphrase: str | None) -> SigningKey:
    key = files.read_private_key(path, passphrase)
    if entry.alg == "ES256":
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ConfigError(f"{path}: ES256 needs a P-256 key")
    elif entry.alg == "EdDSA":
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ConfigError(f"{path}: EdDSA needs an Ed25519 key")
    else:
        raise ConfigError(f"{path}: unsupported algorithm {entry.alg}")
    signing = SigningKey(kid=entry.kid, alg=entry.alg, private_key=key)  # type: ignore[arg-type]
    if signing.public().to_jwk() != entry.jwk:
        raise ConfigError(f"{path} does not match the public key recorded in {KEYRING}")
    return signing


def _load_secret(keys_dir: Path) -> bytes:
    path = keys_dir / SECRET
    if not path.exists():
        raise ConfigError(f"{path} is missing: records cannot be keyed without it")
    files.check_private_file(path)
    try:
        secret = bytes.fromhex(path.read_text().strip())
    except ValueError as exc:
        raise ConfigError(f"{path} is corrupt (expected hex)") from exc
    if len(secret) < 32:
        raise ConfigError(f"{path} holds fewer than 256 bits")
    return secret


def load_keyring(keys_dir: str | Path, passphrase: str | None = None) -> Keyring:
    """Load and check every key file. Raises ConfigError on anything unexpected."""
    root = Path(keys_dir)
    entries = _read_entries(root)
    active = files.only_active(root, entries, "exactly one active key")
    signing = _load_private(root / f"{active.kid}.pem", active, passphrase)
    return Keyring(active=signing, entries=tuple(entries), pseudonym_secret=_load_secret(root))


def _new_entry(keys_dir: Path, alg: str, now: datetime, passphrase: str | None) -> KeyEntry:
    key = SigningKey.generate(alg)  # type: ignore[arg-type]
    files.write_private_key(keys_dir / f"{key.kid}.pem", key.private_key, passphrase)
    return KeyEntry(kid=key.kid, alg=alg, state="active", created_at=now, jwk=key.public().to_jwk())


def generate_key(
    keys_dir: str | Path,
    *,
    alg: str = "ES256",
    now: datetime | None = None,
    passphrase: str | None = None,
) -> KeyEntry:
    """Create the first signing key (and the pseudonym secret if missing).

    Raises:
        ConfigError: a key already exists (use rotate).
    """
    root = Path(keys_dir)
    now = now or datetime.now(UTC)
    with files.locked_keys_dir(root):
        entries = _read_entries(root)
        if any(e.state == "active" for e in entries):
            raise ConfigError("an active key exists already; use `statuspass keys rotate`")
        entry = _new_entry(root, alg, now, passphrase)
        if not (root / SECRET).exists():
            files.write_private(root / SECRET, secrets.token_hex(32).encode() + b"\n")
        _write_entries(root, [*entries, entry])
        return entry


def rotate_key(
    keys_dir: str | Path,
    *,
    max_token_lifetime_s: int,
    alg: str | None = None,
    now: datetime | None = None,
    passphrase: str | None = None,
) -> KeyEntry:
    """A new key signs from now on; the old public key stays published until the last
    token it can have signed has expired; its private key is deleted (it signs no more)."""
    root = Path(keys_dir)
    now = now or datetime.now(UTC)
    with files.locked_keys_dir(root):
        entries = _read_entries(root)
        current = [e for e in entries if e.state == "active"]
        entry = _new_entry(root, alg or (current[0].alg if current else "ES256"), now, passphrase)
        for old in current:
            old.state = "retired"
            old.retired_at = now
            old.publish_until = now + timedelta(seconds=max_token_lifetime_s)
        _write_entries(root, [*entries, entry])
        for old in current:
            (root / f"{old.kid}.pem").unlink(missing_ok=True)
        return entry


def retire_key(keys_dir: str | Path, kid: str, *, now: datetime | None = None) -> KeyEntry:
    """Withdraw a retired key from the JWKS at once (e.g. it leaked): tokens it signed
    stop verifying. The active key cannot be withdrawn; rotate first."""
    root = Path(keys_dir)
    now = now or datetime.now(UTC)
    with files.locked_keys_dir(root):
        entries = _read_entries(root)
        for e in entries:
            if e.kid == kid:
                if e.state == "active":
                    raise ConfigError(f"{kid} is the active key; rotate before retiring it")
                e.state = "withdrawn"
                e.publish_until = now
                _write_entries(root, entries)
                return e
        raise ConfigError(f"no key {kid!r} in {root / KEYRING}")


def list_keys(keys_dir: str | Path) -> list[KeyEntry]:
    return _read_entries(Path(keys_dir))


def ensure_keys(
    keys_dir: str | Path,
    *,
    production: bool,
    passphrase: str | None = None,
    now: datetime | None = None,
) -> Keyring:
    """Load the keys; on a fresh development machine create them first and say so."""
    root = Path(keys_dir)
    fresh = not root.exists() or not any(
        p
        for p in root.iterdir()
        # the development IdP's files (its key, its pending codes) and the audit key are no
        # proof-signing keys: a folder with only them is fresh
        if p.name not in {"README.md", ".gitignore", ".lock"}
        and not p.name.startswith(("dev-idp", "audit-"))
    )
    if fresh:
        if production:
            raise ConfigError(
                f"no signing keys in {root} and STATUSPASS_ENV=production: "
                "create them with `statuspass keys generate` (refusing to invent keys)"
            )
        with contextlib.suppress(ConfigError):  # another worker won the race
            entry = generate_key(root, now=now, passphrase=passphrase)
            log.warning(
                "fresh machine: generated signing key %s and a pseudonym secret in %s",
                entry.kid,
                root,
            )
    return load_keyring(root, passphrase)
