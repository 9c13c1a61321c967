"""`statuspass demo`: seed demo citizens, rights, a source and verifiers; print commands."""

from __future__ import annotations

import argparse
import random
import shlex
from datetime import UTC, datetime, timedelta

from app.api.state import build_services
from app.auth.dev_page import DEMO_SEED, demo_citizens
from app.cli.admin import with_store
from app.config import load_settings
from app.domain import clients as client_ops
from app.domain.entitlements import UpsertInput
from app.domain.ports import Store
from app.domain.records import Holder


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="seed demo data and print ready-to-paste commands")
    p.add_argument("--seed", type=int, default=DEMO_SEED, help="seed for the generated test NRNs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    rng = random.Random(args.seed)
    now = datetime.now(UTC).replace(microsecond=0)

    async def seed(store: Store) -> dict[str, str]:
        svc = build_services(settings, store)
        src, src_key = await client_ops.create_client(
            store,
            svc.registry,
            name="Demo authentic source",
            role="source",
            types=[t.id for t in svc.registry.all()],
            now=now,
        )
        _, museum_key = await client_ops.create_client(
            store,
            svc.registry,
            name="Demo museum",
            role="verifier",
            types=["social_tariff"],
            now=now,
        )
        _, police_key = await client_ops.create_client(
            store,
            svc.registry,
            name="Demo police zone",
            role="verifier",
            types=["parking_card"],
            now=now,
        )
        out = {"source_key": src_key, "museum_key": museum_key, "police_key": police_key}
        # the same people the development login page offers (with the default seed)
        for i, (given, family, nrn) in enumerate(demo_citizens(rng)):
            out[f"nrn{i}"] = nrn
            holder = Holder(given_name=given, family_name=family)
            for type_id in ("social_tariff", "living_wage"):
                await svc.entitlements.upsert(
                    src,
                    type_id,
                    UpsertInput(
                        nrn=nrn,
                        holder=holder,
                        valid_from=now - timedelta(days=30),
                        valid_until=now + timedelta(days=365),
                    ),
                    now,
                )
        card = f"{rng.randrange(10**7, 10**8)}00"
        out["card"] = card
        await svc.entitlements.upsert(
            src,
            "parking_card",
            UpsertInput(
                nrn=out["nrn0"],
                holder=Holder(given_name="Jan", family_name="Peeters"),
                valid_from=now - timedelta(days=30),
                valid_until=now + timedelta(days=3 * 365),
                attributes={
                    "card_number": card,
                    "card_valid_until": (now + timedelta(days=3 * 365)).date().isoformat(),
                },
            ),
            now,
        )
        await svc.entitlements.change_status(
            src, "living_wage", "revoke", out["nrn2"], "demo revocation", now
        )
        return out

    o = with_store(settings, seed)
    base = settings.issuer.rstrip("/")
    q = shlex.quote
    print(f"""Demo data seeded in {settings.store_url}: 3 citizens (test NRNs, generated),
their social_tariff and living_wage rights (Lukas's living_wage revoked), one parking card,
an authentic source, a museum and a police zone.

1. Start the service with the development identity provider:
   STATUSPASS_DEV_IDP=1 statuspass serve

2. A citizen logs in and asks for a proof:
   TOKEN=$(STATUSPASS_DEV_IDP=1 statuspass dev citizen-token {o["nrn0"]})
   curl -s {base}/v1/me/entitlements -H "Authorization: Bearer $TOKEN"
   curl -s {base}/v1/me/proofs -H "Authorization: Bearer $TOKEN" \\
        -H 'Content-Type: application/json' -d '{{"type": "social_tariff", "qr": []}}'

3. The museum verifies it (paste the token or the numeric code):
   curl -s {base}/v1/verify -H {q("Authorization: Bearer " + o["museum_key"])} \\
        -H 'Content-Type: application/json' -d '{{"token": "PASTE-TOKEN"}}'
   statuspass verify PASTE-TOKEN --jwks {base}/.well-known/jwks.json

4. The police checks the parking card:
   curl -s {base}/v1/parking-cards/check -H {q("Authorization: Bearer " + o["police_key"])} \\
        -H 'Content-Type: application/json' -d '{{"card_number": "{o["card"]}"}}'

5. The authentic source revokes a right (effective at once online):
   curl -s {base}/v1/entitlements/social_tariff/revoke \\
        -H {q("Authorization: Bearer " + o["source_key"])} \\
        -H 'Content-Type: application/json' -d '{{"nrn": "{o["nrn0"]}", "reason": "demo"}}'

6. The citizen sees who checked them:
   curl -s {base}/v1/me/verifications -H "Authorization: Bearer $TOKEN"

API keys above are shown once; `statuspass clients list` shows the clients.""")
    return 0
