"""Key material on disk and its owners: the proof-signing key ring with the pseudonym
secret (`ring`), the audit checkpoint keys (`audit`), the file rules both follow
(`files`) and the watcher that reloads the ring in running workers (`watcher`).

Only this package reads or writes files under `STATUSPASS_KEYS_DIR`.
"""

from __future__ import annotations

from app.config import Settings
from app.keys.audit import AuditKeys, ensure_audit_key, load_audit_keys, rotate_audit_key
from app.keys.ring import (
    KeyEntry,
    Keyring,
    ensure_keys,
    generate_key,
    list_keys,
    load_keyring,
    retire_key,
    rotate_key,
)
from app.keys.watcher import KeyringHolder

__all__ = [
    "AuditKeys",
    "KeyEntry",
    "Keyring",
    "KeyringHolder",
    "audit_keys_for",
    "ensure_audit_key",
    "ensure_keys",
    "generate_key",
    "keyring_for",
    "list_keys",
    "load_audit_keys",
    "load_keyring",
    "retire_key",
    "rotate_audit_key",
    "rotate_key",
]


def keyring_for(settings: Settings) -> Keyring:
    """The signing key ring of `settings`: created on a development machine that has
    none, refused in production (`ensure_keys`)."""
    return ensure_keys(
        settings.keys_dir, production=settings.production, passphrase=settings.keys_passphrase
    )


def audit_keys_for(settings: Settings) -> AuditKeys:
    """The audit keys of `settings`, by the same rules (`ensure_audit_key`)."""
    return ensure_audit_key(
        settings.keys_dir,
        name=settings.audit_log_origin,
        production=settings.production,
        passphrase=settings.keys_passphrase,
    )
