"""`statuspass demo`: seed demo citizens, rights, a source and verifiers; print commands.

The demo can be run again at any time and leaves the same demo world behind: the same
citizens (test NRNs from the seed), their rights back in the state the walk-through
expects (a revocation the user tried is undone), and new demo clients in place of the
previous ones, whose keys were shown once and cannot be shown again.

The printed commands work as printed: they call statuspass the way the demo itself was
called (`.venv/bin/statuspass` after the README's install), point at the address that
`serve --port` will have, and save the proof's QR code as files the user can open.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.auth.dev_page import DEMO_PEOPLE, DEMO_SEED, demo_citizens
from app.cli.address import served_issuer
from app.cli.admin import with_store
from app.config import DEFAULT_ISSUER, issuer_configured, load_settings
from app.domain import clients as client_ops
from app.domain.entitlements import EntitlementService, UpsertInput
from app.domain.ports import Store
from app.domain.records import Holder
from app.domain.registry import load_registry
from app.keys import keyring_for

DEMO_CLIENTS = {
    "source_key": ("Demo authentic source", "source", None),
    "museum_key": ("Demo museum", "verifier", ["social_tariff"]),
    "police_key": ("Demo police zone", "verifier", ["parking_card"]),
}
#: the state each demo right is put back in: (person, type) -> status change, if any
DEMO_STATES = {(0, "social_tariff"): "reinstate", (2, "living_wage"): "revoke"}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="seed demo data and print ready-to-paste commands")
    p.add_argument("--seed", type=int, default=DEMO_SEED, help="seed for the generated test NRNs")
    p.add_argument(
        "--port",
        type=int,
        default=8000,
        help="the TCP port `serve` will listen on, for the printed commands (default: 8000)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    registry = load_registry(settings.registry)
    keyring = keyring_for(settings)
    rng = random.Random(args.seed)
    now = datetime.now(UTC).replace(microsecond=0)
    # the same people the development login page offers (with the default seed)
    nrns = [nrn for _given, _family, nrn in demo_citizens(rng)]
    card = f"{rng.randrange(10**7, 10**8)}00"
    card_until = now + timedelta(days=3 * 365)

    async def seed(store: Store) -> dict[str, str]:
        # the keys of an earlier run's clients were shown once: replace those clients
        names = {name for name, _role, _types in DEMO_CLIENTS.values()}
        for old in await store.list_clients():
            if old.name in names and old.revoked_at is None:
                await client_ops.revoke_client(store, old.id, now)
        out: dict[str, str] = {}
        source = None
        for slot, (name, role, types) in DEMO_CLIENTS.items():
            client, key = await client_ops.create_client(
                store,
                registry,
                name=name,
                role=role,
                types=types or [t.id for t in registry.all()],
                now=now,
            )
            out[slot] = key
            source = source or client
        assert source is not None
        entitlements = EntitlementService(store, registry, keyring.pseudonym_secret)
        for i, (given, family) in enumerate(DEMO_PEOPLE):
            holder = Holder(given_name=given, family_name=family)
            for type_id in ("social_tariff", "living_wage"):
                await entitlements.upsert(
                    source,
                    type_id,
                    UpsertInput(
                        nrn=nrns[i],
                        holder=holder,
                        valid_from=now - timedelta(days=30),
                        valid_until=now + timedelta(days=365),
                    ),
                    now,
                )
        await entitlements.upsert(
            source,
            "parking_card",
            UpsertInput(
                nrn=nrns[0],
                holder=Holder(given_name="Jan", family_name="Peeters"),
                valid_from=now - timedelta(days=30),
                valid_until=card_until,
                # the card's validity is the right's: proofs derive card_valid_until
                attributes={"card_number": card},
            ),
            now,
        )
        for (person, type_id), action in DEMO_STATES.items():
            # "unchanged" when it is in that state already: never a conflict on a rerun
            await entitlements.change_status(source, type_id, action, nrns[person], "demo", now)
        return out

    keys = with_store(settings, seed)
    print(_walkthrough(settings.store_url, keys, nrns, card, args.port, settings.issuer))
    return 0


def _invocation() -> tuple[str, str]:
    """How to call statuspass and its Python again, as this process was called."""
    python = shlex.quote(_short(sys.executable))
    argv0 = sys.argv[0]
    if Path(argv0).name == "__main__.py":  # python -m app
        return f"{python} -m app", python
    on_path = shutil.which("statuspass")
    if on_path and Path(on_path).resolve() == Path(argv0).resolve():
        return "statuspass", python
    return shlex.quote(_short(argv0)), python


def _short(path: str) -> str:
    """`path` relative to the working directory when it lies below it (.venv/bin/…)."""
    full = os.path.abspath(path)  # not resolve(): a venv's python is a symlink to keep
    rel = os.path.relpath(full)
    if rel.startswith(".."):
        return full
    return rel if "/" in rel else f"./{rel}"


def _walkthrough(
    store_url: str, keys: dict[str, str], nrns: list[str], card: str, port: int, issuer: str
) -> str:
    sp, py = _invocation()
    q = shlex.quote
    base = issuer.rstrip("/") if issuer_configured() else served_issuer("127.0.0.1", port)
    serve = f"STATUSPASS_DEV_IDP=1 {sp} serve" + (f" --port {port}" if port != 8000 else "")
    # a dev IdP token names the service that accepts it (its issuer + /dev-idp)
    token_issuer = f" --issuer {q(base)}" if base != DEFAULT_ISSUER else ""
    museum = q("Authorization: Bearer " + keys["museum_key"])
    # double quotes inside, so that the shell's single quotes around them stay plain
    save = (
        'import base64, json; p = json.load(open("proof.json")); '
        'open("proof.png", "wb").write(base64.b64decode(p["qr_png_base64"])); '
        'open("proof.svg", "w").write(p["qr_svg"]); '
        'print("QR code saved: proof.png, proof.svg; numeric code", p["code"])'
    )
    code = 'import json; print(json.load(open("proof.json"))["code"])'
    return f"""Demo data seeded in {store_url}: 3 citizens (test NRNs, generated),
their social_tariff and living_wage rights (Lukas's living_wage revoked), one parking card,
an authentic source, a museum and a police zone. Run the demo again at any time: it puts
this data back as it was and replaces the demo clients (the keys printed before stop
working). Run the commands below from this folder, with the same STATUSPASS_* settings:
the indented lines of each step can be pasted into a shell as they are.

1. Start the service with the development identity provider (in another terminal):
   {serve}

2. A citizen logs in and asks for a proof with its QR code, saved as proof.png and proof.svg:
   TOKEN=$({sp} dev citizen-token {nrns[0]}{token_issuer})
   curl -sw '\\n' {base}/v1/me/entitlements -H "Authorization: Bearer $TOKEN"
   curl -sw '\\n' {base}/v1/me/proofs -H "Authorization: Bearer $TOKEN" -o proof.json \\
        -H 'Content-Type: application/json' -d '{{"type": "social_tariff", "qr": ["png", "svg"]}}'
   {py} -c {q(save)}

3. The museum verifies it. POST /v1/verify takes the proof's token, {{"token": "eyJ…"}},
or its 12-digit numeric code, {{"code": "1234 5678 9012"}}:
   # the token, read from the QR code
   {sp} verify --qr proof.png --online {base} --api-key {q(keys["museum_key"])}
   # the numeric code, as a counter clerk types it
   CODE=$({py} -c {q(code)})
   curl -sw '\\n' {base}/v1/verify -H {museum} \\
        -H 'Content-Type: application/json' -d "{{\\"code\\": \\"$CODE\\"}}"
   # offline, with the keys and status list the service publishes (no API key)
   {sp} verify --qr proof.svg --jwks {base}/.well-known/jwks.json

4. The police checks the parking card:
   curl -sw '\\n' {base}/v1/parking-cards/check \\
        -H {q("Authorization: Bearer " + keys["police_key"])} \\
        -H 'Content-Type: application/json' -d '{{"card_number": "{card}"}}'

5. The authentic source revokes the right (effective at once online); verify again:
   curl -sw '\\n' {base}/v1/entitlements/social_tariff/revoke \\
        -H {q("Authorization: Bearer " + keys["source_key"])} \\
        -H 'Content-Type: application/json' -d '{{"nrn": "{nrns[0]}", "reason": "demo"}}'
   {sp} verify --qr proof.png --online {base} --api-key {q(keys["museum_key"])}

6. The citizen sees who checked them:
   curl -sw '\\n' {base}/v1/me/verifications -H "Authorization: Bearer $TOKEN"

API keys above are shown once; `{sp} clients list` shows the clients."""
