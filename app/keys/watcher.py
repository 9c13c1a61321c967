"""The key ring as running workers see it: reloaded when `statuspass keys rotate` changed
it on disk, so a rotation reaches every worker without a restart."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from datetime import datetime
from pathlib import Path

import msgspec

from app.config import Settings
from app.keys.ring import KEYRING, Keyring, load_keyring
from app.tokens import PublicKey, SigningKey, jwks_document

__all__ = ["KeyringHolder"]

log = logging.getLogger("statuspass.keys")


class KeyringHolder:
    """The current keyring, reloaded when `statuspass keys rotate` changed it on disk.

    Workers check the key ring's modification time at most every `check_s` seconds, so a
    rotation takes effect in every running worker without a restart.
    """

    def __init__(self, settings: Settings, keyring: Keyring, check_s: float = 2.0) -> None:
        self._settings = settings
        self._keyring = keyring
        self._path = Path(settings.keys_dir) / KEYRING
        self._mtime = self._stat()
        self._checked = time.monotonic()
        self._check_s = check_s
        self._published: tuple[int, dict[str, PublicKey]] = (-1, {})
        self._jwks: tuple[object, bytes, str] = (None, b"", "")

    def _stat(self) -> float:
        try:
            return os.stat(self._path).st_mtime
        except OSError:
            return 0.0

    @property
    def keyring(self) -> Keyring:
        mono = time.monotonic()
        if mono - self._checked >= self._check_s:
            self._checked = mono
            mtime = self._stat()
            if mtime != self._mtime:
                try:
                    self._keyring = load_keyring(
                        self._settings.keys_dir, self._settings.keys_passphrase
                    )
                    self._mtime = mtime
                    self._published = (-1, {})
                    log.info("key ring reloaded; active key %s", self._keyring.active.kid)
                except Exception as exc:  # keep signing with the keys we have
                    log.error("key ring changed but cannot be loaded: %s", exc)
        return self._keyring

    def signing_key(self) -> SigningKey:
        return self.keyring.active

    def jwks_bytes(self, now: datetime) -> tuple[bytes, str]:
        """The JWKS document and its ETag, encoded once per change of the key set."""
        keys = self.verification_keys(now)
        if self._jwks[0] is not keys:
            body = msgspec.json.encode(jwks_document(keys.values()))
            self._jwks = (keys, body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
        return self._jwks[1], self._jwks[2]

    def verification_keys(self, now: datetime) -> dict[str, PublicKey]:
        # the set only changes when a retired key's publication ends: cache per minute
        minute = int(now.timestamp()) // 60
        ring = self.keyring
        if self._published[0] != minute:
            self._published = (minute, ring.verification_keys(now))
        return self._published[1]
