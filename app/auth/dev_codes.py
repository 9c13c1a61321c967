"""The dev IdP's authorization codes: single-use, short-lived, shared by all workers.

A code is issued by the worker that served the login form and redeemed at the token
endpoint, maybe by another worker of the same `serve`: pending grants live in a small
SQLite file beside the dev IdP's key. The file holds nothing readable without the code
itself: a row is found by a hash of the code and its content (which includes the NRN)
is encrypted under a key derived from the code, so the NRN is never stored in clear and
a copy of the file alone redeems nothing. `take` deletes the row in the same statement
that reads it, so a code is redeemed once, whichever worker sees it first.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import threading
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["CODES_FILE", "Grant", "PendingCodes"]

CODES_FILE = "dev-idp-codes.sqlite3"


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    """What a code stands for: who logged in, for which client and request."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    nrn: str
    nonce: str | None
    scope: str
    auth_time: int
    expires: int


def _row_id(code: str) -> bytes:
    return hashlib.sha256(b"statuspass-dev-idp-code-id\0" + code.encode()).digest()


def _row_key(code: str) -> bytes:
    return hashlib.sha256(b"statuspass-dev-idp-code-key\0" + code.encode()).digest()


class PendingCodes:
    """Codes issued and not yet redeemed; expired ones are purged as new ones come."""

    def __init__(self, keys_dir: str) -> None:
        path = Path(keys_dir) / CODES_FILE
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # created 0600 before SQLite opens it: the file is nobody else's business
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        # The dev IdP answers a person at a login page: one statement of microseconds
        # per login, run in the event loop; the lock makes the connection safe to use
        # from whichever thread Litestar runs a handler in.
        self._db = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS codes "
                "(id BLOB PRIMARY KEY, expires INTEGER NOT NULL, grant_ BLOB NOT NULL)"
            )

    def put(self, grant: Grant, now: int) -> str:
        """Store `grant` and return its code (256 random bits, URL-safe)."""
        code = secrets.token_urlsafe(32)
        nonce = secrets.token_bytes(12)
        sealed = nonce + AESGCM(_row_key(code)).encrypt(nonce, msgspec.json.encode(grant), None)
        with self._lock:
            self._db.execute("DELETE FROM codes WHERE expires <= ?", (now,))
            self._db.execute(
                "INSERT INTO codes (id, expires, grant_) VALUES (?, ?, ?)",
                (_row_id(code), grant.expires, sealed),
            )
        return code

    def take(self, code: str, now: int) -> Grant | None:
        """The grant of `code`, removed so that it cannot be redeemed again; None if the
        code is unknown, already used or expired."""
        with self._lock:
            row = self._db.execute(
                "DELETE FROM codes WHERE id = ? RETURNING expires, grant_", (_row_id(code),)
            ).fetchone()
        if row is None or row[0] <= now:
            return None
        sealed: bytes = row[1]
        try:
            plain = AESGCM(_row_key(code)).decrypt(sealed[:12], sealed[12:], None)
        except InvalidTag:
            return None
        return msgspec.json.decode(plain, type=Grant)

    def close(self) -> None:
        with self._lock:
            self._db.close()
