"""Key material on disk and its owners: the proof-signing key ring with the pseudonym
secret (`ring`), the audit checkpoint keys (`audit`), the file rules both follow
(`files`) and the watcher that reloads the ring in running workers (`watcher`).

Only this package reads or writes files under `STATUSPASS_KEYS_DIR`.
"""

from __future__ import annotations

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
    "ensure_audit_key",
    "ensure_keys",
    "generate_key",
    "list_keys",
    "load_audit_keys",
    "load_keyring",
    "retire_key",
    "rotate_audit_key",
    "rotate_key",
]
