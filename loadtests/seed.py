"""Seed a running Statuspass service for a load test, through its CLI and its HTTP API.

What it creates (all synthetic: NRNs from `app.tokens.generate_nrn`, never real ones):

* API clients with the operator CLI (`statuspass clients add`): one authentic source, a
  few counter verifiers (museums, utilities: `social_tariff`) and a police verifier
  (`parking_card`);
* N citizens with a `social_tariff` right and M holders of a disability parking card,
  pushed as NDJSON through `POST /v1/entitlements:batch`, as an authentic source does;
* ID tokens of the development identity provider for the citizens (the service must run
  with `STATUSPASS_DEV_IDP=1` and the same `STATUSPASS_KEYS_DIR`);
* pre-issued proofs (token + numeric code) through `POST /v1/me/proofs`, so counters have
  real proofs to verify from the first second; a few of them belong to rights revoked
  afterwards, and a counter must then be told "revoked".

Everything goes to `seed.json` (API keys, ID tokens, proofs, card numbers, expected
outcomes), which `locustfile.py` reads. The environment (`STATUSPASS_*`) must be the
service's own, since the CLI writes to its store and the ID tokens are signed with its
development identity provider key.

    python loadtests/seed.py --url http://127.0.0.1:8000 --out loadtests/results/x/seed.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.auth import mint_dev_token
from app.config import load_settings
from app.tokens import generate_nrn

BATCH_LINES = 5000
GIVEN = ["Anna", "Jan", "Marie", "Luc", "Sofie", "Ahmed", "Elke", "Pieter", "Fatima", "Koen"]
FAMILY = ["Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Dubois"]


def log(msg: str) -> None:
    print(f"[seed {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def require_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit(f"refusing to seed {url}: load tests only target loopback")


def cli(*args: str) -> str:
    """Run the operator CLI with this process's environment (the service's settings)."""
    out = subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"statuspass {' '.join(args)} failed: {out.stderr.strip()[-500:]}")
    return out.stdout


def add_client(name: str, role: str, types: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        cli("clients", "add", "--name", name, "--role", role, "--types", types, "--json")
    )
    return {"id": doc["id"], "name": name, "api_key": doc["api_key"]}


def unique_nrns(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < count:
        nrn = generate_nrn(rng)
        if nrn not in taken:
            taken.add(nrn)
            out.append(nrn)
    return out


def holder(rng: random.Random) -> dict[str, str]:
    return {"given_name": rng.choice(GIVEN), "family_name": rng.choice(FAMILY)}


async def push_batch(
    http: httpx.AsyncClient, key: str, lines: list[dict[str, Any]], what: str
) -> None:
    """Send NDJSON lines in chunks; every line must come back ok."""
    done = 0
    started = time.monotonic()
    for i in range(0, len(lines), BATCH_LINES):
        chunk = lines[i : i + BATCH_LINES]
        body = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in chunk)
        r = await http.post(
            "/v1/entitlements:batch",
            content=body.encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"},
            timeout=300,
        )
        r.raise_for_status()
        results = [json.loads(x) for x in r.text.splitlines() if x.strip()]
        summary = results[-1].get("summary") if results else None
        if not summary or summary["ok"] != len(chunk) or summary["failed"]:
            bad = [x for x in results[:-1] if not x.get("ok")][:3]
            raise SystemExit(f"batch of {what} failed: summary={summary} first errors={bad}")
        done += len(chunk)
        rate = done / max(time.monotonic() - started, 1e-6)
        log(f"{what}: {done}/{len(lines)} lines ({rate:,.0f} lines/s)")


async def issue_proofs(
    http: httpx.AsyncClient,
    id_tokens: list[str],
    lifetime_s: int,
    concurrency: int,
    what: str,
) -> list[dict[str, Any]]:
    sem = asyncio.Semaphore(concurrency)
    out: list[dict[str, Any]] = []
    started = time.monotonic()

    async def one(tok: str) -> None:
        async with sem:
            r = await http.post(
                "/v1/me/proofs",
                json={"type": "social_tariff", "qr": [], "lifetime_s": lifetime_s},
                headers={"Authorization": f"Bearer {tok}"},
                timeout=30,
            )
        if r.status_code != 201:
            raise SystemExit(f"issuing a proof failed: {r.status_code} {r.text[:300]}")
        doc = r.json()
        out.append({"token": doc["token"], "code": doc["code"], "expires_at": doc["expires_at"]})
        if len(out) % 250 == 0 or len(out) == len(id_tokens):
            rate = len(out) / max(time.monotonic() - started, 1e-6)
            log(f"{what}: {len(out)}/{len(id_tokens)} ({rate:,.0f}/s)")

    await asyncio.gather(*(one(t) for t in id_tokens))
    return out


async def seed(args: argparse.Namespace) -> dict[str, Any]:
    require_loopback(args.url)
    settings = load_settings()
    if not settings.dev_idp:
        raise SystemExit("set STATUSPASS_DEV_IDP=1 (the service must run with it, too)")
    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    valid_from = iso(now - timedelta(days=1))
    valid_until = iso(now + timedelta(days=730))

    log(f"creating {args.counters + 2} API clients with the CLI")
    wanted = [
        ("loadtest source (CPAS)", "source", "social_tariff,parking_card"),
        ("loadtest police", "verifier", "parking_card"),
        *[(f"loadtest counter {i + 1}", "verifier", "social_tariff") for i in range(args.counters)],
    ]
    # each CLI call is a Python start-up: run them side by side
    with ThreadPoolExecutor(max_workers=4) as pool:
        made = list(pool.map(lambda w: add_client(*w), wanted))
    source, police, counters = made[0], made[1], made[2:]

    taken: set[str] = set()
    citizens = unique_nrns(rng, args.citizens, taken)
    card_holders = unique_nrns(rng, args.cards, taken)
    card_numbers = [f"{n:010d}" for n in rng.sample(range(10**9, 10**10), args.cards)]

    async with httpx.AsyncClient(base_url=args.url, trust_env=False) as http:
        r = await http.get("/ready", timeout=10)
        r.raise_for_status()
        lines: list[dict[str, Any]] = [
            {
                "op": "upsert",
                "type": "social_tariff",
                "nrn": nrn,
                "holder": holder(rng),
                "valid_from": valid_from,
                "valid_until": valid_until,
                "id": f"st-{i}",
            }
            for i, nrn in enumerate(citizens)
        ]
        await push_batch(http, source["api_key"], lines, "social_tariff")
        cards = [
            {
                "op": "upsert",
                "type": "parking_card",
                "nrn": nrn,
                "holder": holder(rng),
                "valid_from": valid_from,
                "valid_until": valid_until,
                # a card is valid as long as its entitlement: valid_until, sent once
                "attributes": {"card_number": number},
                "id": f"pc-{i}",
            }
            for i, (nrn, number) in enumerate(zip(card_holders, card_numbers, strict=True))
        ]
        if cards:
            await push_batch(http, source["api_key"], cards, "parking_card")

        # ID tokens of the development identity provider, minted here with its key
        log(f"minting {min(args.id_tokens, len(citizens))} citizen ID tokens")
        revoked_nrns = citizens[: args.revoked]
        active = citizens[args.revoked :]
        with_tokens = active[: args.id_tokens]
        id_tokens = [
            mint_dev_token(settings, nrn, now, lifetime_s=args.id_token_lifetime_s)
            for nrn in with_tokens
        ]
        pre = [id_tokens[i % len(id_tokens)] for i in range(args.proofs)] if id_tokens else []
        proofs = await issue_proofs(
            http, pre, args.proof_lifetime_s, args.concurrency, "pre-issued proofs"
        )

        # proofs of rights that the source then revokes: a counter must say "revoked"
        revoked_proofs: list[dict[str, Any]] = []
        if revoked_nrns:
            rtoks = [mint_dev_token(settings, nrn, now, lifetime_s=600) for nrn in revoked_nrns]
            revoked_proofs = await issue_proofs(
                http, rtoks, args.proof_lifetime_s, args.concurrency, "proofs to revoke"
            )
            await push_batch(
                http,
                source["api_key"],
                [
                    {"op": "revoke", "type": "social_tariff", "nrn": nrn, "reason": "loadtest"}
                    for nrn in revoked_nrns
                ],
                "revocations",
            )

        # the offline verifiers' starting point: the current ETags
        etags = {}
        for path in ("/.well-known/jwks.json", "/v1/status-lists/1"):
            r = await http.get(path, timeout=10)
            r.raise_for_status()
            etags[path] = r.headers.get("etag")

    return {
        "url": args.url,
        "created_at": iso(now),
        "seed": args.seed,
        "source": source,
        "counters": counters,
        "police": police,
        "id_tokens": id_tokens,
        "id_tokens_expire_at": iso(now + timedelta(seconds=args.id_token_lifetime_s)),
        "proofs": proofs,
        "revoked_proofs": revoked_proofs,
        "cards": card_numbers,
        "citizens_active": active[:5000],
        "holder_defaults": {"valid_from": valid_from, "valid_until": valid_until},
        "status_list_ids": ["1"],
        "etags": etags,
        "counts": {
            "citizens": len(citizens),
            "cards": len(card_numbers),
            "proofs": len(proofs),
            "revoked_proofs": len(revoked_proofs),
        },
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--url", default=os.environ.get("STATUSPASS_URL", "http://127.0.0.1:8000"))
    p.add_argument("--out", type=Path, required=True, help="where to write seed.json")
    p.add_argument("--citizens", type=int, default=2000)
    p.add_argument("--cards", type=int, default=500)
    p.add_argument("--counters", type=int, default=4, help="counter verifier clients")
    p.add_argument("--id-tokens", type=int, default=1000, help="citizens with an ID token")
    p.add_argument("--proofs", type=int, default=1000, help="pre-issued proofs")
    p.add_argument("--revoked", type=int, default=20, help="citizens revoked after issuance")
    p.add_argument("--proof-lifetime-s", type=int, default=900)
    p.add_argument("--id-token-lifetime-s", type=int, default=4 * 3600)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--seed", type=int, default=20251121)
    args = p.parse_args()
    if args.citizens <= args.revoked:
        p.error("--citizens must be larger than --revoked")
    started = time.monotonic()
    doc = asyncio.run(seed(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    tmp.replace(args.out)
    log(
        f"done in {time.monotonic() - started:.1f} s: {doc['counts']} -> {args.out}"
        " (holds API keys and tokens: test data only)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
