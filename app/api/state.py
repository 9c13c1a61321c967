"""Wiring: the services one worker needs, built once at start-up from `Settings`."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import msgspec

from app.auditkeys import AuditKeys, ensure_audit_key
from app.citizens import CitizenAuthenticator
from app.config import Settings
from app.domain.bulk import BulkUpserter
from app.domain.clients import ClientDirectory
from app.domain.entitlements import EntitlementService
from app.domain.ports import Clock, Store, SystemClock
from app.domain.proofs import ProofService
from app.domain.registry import Registry, load_registry
from app.domain.statuslists import StatusListPublisher
from app.domain.verification import VerificationService
from app.keyring import KEYRING, Keyring, ensure_keys, load_keyring
from app.tokens import PublicKey, SigningKey, code_digest_key, jwks_document

__all__ = ["KeyringHolder", "Services", "build_services"]

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

    def published_keys(self, now: datetime) -> list[PublicKey]:
        return list(self.verification_keys(now).values())

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


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    registry: Registry
    store: Store
    keys: KeyringHolder
    clock: Clock
    clients: ClientDirectory
    entitlements: EntitlementService
    bulk: BulkUpserter
    proofs: ProofService
    verification: VerificationService
    status_lists: StatusListPublisher
    citizens: CitizenAuthenticator
    audit_keys: AuditKeys


def build_services(settings: Settings, store: Store, *, clock: Clock | None = None) -> Services:
    registry = load_registry(settings.registry)
    keyring = ensure_keys(
        settings.keys_dir, production=settings.production, passphrase=settings.keys_passphrase
    )
    keys = KeyringHolder(settings, keyring)
    audit_keys = ensure_audit_key(
        settings.keys_dir,
        name=settings.audit_log_origin,
        production=settings.production,
        passphrase=settings.keys_passphrase,
    )
    entitlements = EntitlementService(store, registry, keyring.pseudonym_secret)
    code_key = code_digest_key(keyring.pseudonym_secret)
    return Services(
        settings=settings,
        registry=registry,
        store=store,
        keys=keys,
        clock=clock or SystemClock(),
        clients=ClientDirectory(store),
        entitlements=entitlements,
        bulk=BulkUpserter(store, entitlements),
        proofs=ProofService(store, registry, settings, keys.signing_key, code_key),
        verification=VerificationService(
            store, registry, settings, keys.verification_keys, code_key
        ),
        status_lists=StatusListPublisher(store, settings, keys.signing_key),
        citizens=CitizenAuthenticator(settings, keyring.pseudonym_secret),
        audit_keys=audit_keys,
    )
