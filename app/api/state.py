"""Wiring: the services one worker needs, built once at start-up from `Settings`."""

from __future__ import annotations

from dataclasses import dataclass

from app.auth import CitizenAuthenticator
from app.config import Settings
from app.domain.bulk import BulkUpserter
from app.domain.clients import ClientDirectory
from app.domain.entitlements import EntitlementService
from app.domain.ports import Clock, Store, SystemClock
from app.domain.proofs import ProofService
from app.domain.registry import Registry, load_registry
from app.domain.statuslists import StatusListPublisher
from app.domain.verification import VerificationService
from app.keys import AuditKeys, KeyringHolder, audit_keys_for, keyring_for
from app.tokens import code_digest_key

__all__ = ["Services", "build_services"]


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
    keyring = keyring_for(settings)
    keys = KeyringHolder(settings, keyring)
    audit_keys = audit_keys_for(settings)
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
