"""Locust scenarios for Statuspass: the real traffic mix, against a seeded service.

Who is modelled (user classes; `weight` is the share of simulated users):

* `CounterTokenUser`: a counter (museum, utility, municipal desk) scanning the QR code a
  citizen shows and verifying it online: `POST /v1/verify {token}`. The bulk of traffic.
  A few of the proofs belong to rights revoked after issuance: those must say "revoked".
* `CounterCodeUser`: the same counter, the citizen reading out the 12-digit numeric code
  (phone, no smartphone): `POST /v1/verify {code}`.
* `CitizenUser`: a citizen opening the app and asking for a proof with their ID token
  (`POST /v1/me/proofs`, no QR image: the app draws it); the new proof joins the pool the
  counters verify, so issuance and verification feed each other as in real life.
* `PoliceUser`: police or parking attendants checking a disability parking card number:
  `POST /v1/parking-cards/check`.
* `OfflineVerifierUser`: offline verifier devices refreshing the published keys and the
  status list with `If-None-Match` (mostly 304), and now and then a new device fetching
  them in full.
* `SourceUser`: an authentic source (one system) pushing small NDJSON batches of upserts.

A request fails when its HTTP status is not the expected one OR when the body is not what
the real user needs (a fresh genuine proof must be "valid", a revoked one "revoked", a
batch must acknowledge every line, ...), so a zero-failure run means every answer was right.

Configuration (environment):
    LOADTEST_SEED          path of seed.json written by seed.py (required)
    LOADTEST_WAIT_MIN/MAX  think time between a user's requests in seconds (0.1 / 0.5)
    LOADTEST_BATCH_LINES   lines per batch of the source (20)
    LOADTEST_MAX_REQUESTS  stop the run after this many requests (2 000 000)
Only loopback targets are accepted.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import random
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from locust import FastHttpUser, between, events, task
from locust.runners import Runner

from app.tokens import generate_nrn

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WAIT_MIN = float(os.environ.get("LOADTEST_WAIT_MIN", "0.1"))
WAIT_MAX = float(os.environ.get("LOADTEST_WAIT_MAX", "0.5"))
BATCH_LINES = int(os.environ.get("LOADTEST_BATCH_LINES", "20"))
MAX_REQUESTS = int(os.environ.get("LOADTEST_MAX_REQUESTS", "2000000"))
#: a proof closer than this to its expiry is not handed to a counter any more
EXPIRY_MARGIN_S = 30
#: share of token checks that use a proof of a revoked right
REVOKED_SHARE = 0.02


def _load_seed() -> dict[str, Any]:
    path = os.environ.get("LOADTEST_SEED")
    if not path:
        raise SystemExit("set LOADTEST_SEED to the seed.json written by loadtests/seed.py")
    with open(path, encoding="utf-8") as fh:
        doc: dict[str, Any] = json.load(fh)
    return doc


SEED = _load_seed()


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


class ProofPool:
    """Proofs the counters can verify: pre-issued ones plus those citizens ask for now.

    A bounded ring (newest proofs replace the oldest), shared by all users of this locust
    process. Proofs about to expire are skipped, so "expired" never shows up as a failure.
    """

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self.items: list[tuple[str, str | None, float]] = []
        self.next = 0

    def add(self, token: str, code: str | None, expires_at: float) -> None:
        item = (token, code, expires_at)
        if len(self.items) < self.size:
            self.items.append(item)
        else:
            self.items[self.next] = item
            self.next = (self.next + 1) % self.size

    def pick(self, rng: random.Random) -> tuple[str, str | None] | None:
        limit = time.time() + EXPIRY_MARGIN_S
        for _ in range(20):
            if not self.items:
                return None
            token, code, exp = rng.choice(self.items)
            if exp > limit:
                return token, code
        return None


POOL = ProofPool()
for _p in SEED["proofs"]:
    POOL.add(_p["token"], _p["code"], _epoch(_p["expires_at"]))
#: proofs of rights revoked after issuance. Their holders cannot get new ones, so these
#: run out when they expire (proof lifetimes are capped by the type: 15 minutes for
#: social_tariff); longer runs check revoked proofs only until then.
REVOKED = ProofPool()
for _p in SEED["revoked_proofs"]:
    REVOKED.add(_p["token"], _p["code"], _epoch(_p["expires_at"]))
_counter_keys = itertools.cycle([c["api_key"] for c in SEED["counters"]])
_user_ids = itertools.count()


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    host = environment.host or SEED["url"]
    if urlsplit(host).hostname not in LOOPBACK:
        raise SystemExit(f"refusing to load-test {host}: loopback targets only")
    runner: Runner | None = environment.runner
    if runner is None:
        return
    count = itertools.count(1)

    def cap(**_kw: Any) -> None:
        if next(count) == MAX_REQUESTS:
            print(f"LOADTEST_MAX_REQUESTS={MAX_REQUESTS} reached: stopping")
            runner.quit()

    environment.events.request.add_listener(cap)


@events.test_start.add_listener
def _quiet_collector(**_: Any) -> None:
    """Locust measures latency in its own process: a pause of its garbage collector is
    added to every request in flight. With the defaults, a 90 s run at 1,700 req/s saw 8
    full collections of ~80 ms each (and 65 younger ones over 3 ms); with what was loaded
    so far frozen out of the collector's sight and rarer collections, 3 pauses over 3 ms.
    Locust's objects are mostly acyclic (reference counting frees them), so memory stays
    bounded."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)


def _body(resp: Any) -> Any:
    try:
        return json.loads(resp.content or b"null")
    except ValueError:
        return None


def _expect_result(resp: Any, status: int, result: str, reason: str | None) -> None:
    """Fail `resp` unless it is `status` with this verification result and reason."""
    if resp.status_code != status:
        resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
        return
    doc = _body(resp)
    if not isinstance(doc, dict):
        resp.failure("body is not a JSON object")
    elif doc.get("result") != result or doc.get("reason") != reason:
        resp.failure(f"expected {result}/{reason}, got {doc.get('result')}/{doc.get('reason')}")
    elif result == "valid" and doc.get("revocation_checked") != "online":
        resp.failure(f"revocation_checked={doc.get('revocation_checked')!r}, not online")
    elif not doc.get("verification_id"):
        resp.failure("no verification_id")
    else:
        resp.success()


class _Base(FastHttpUser):
    abstract = True
    host = SEED["url"]
    wait_time = between(WAIT_MIN, WAIT_MAX)

    def on_start(self) -> None:
        self.rng = random.Random(next(_user_ids))


class CounterTokenUser(_Base):
    """A counter scanning QR codes and verifying the token online."""

    weight = 60

    def on_start(self) -> None:
        super().on_start()
        self.auth = {"Authorization": f"Bearer {next(_counter_keys)}"}

    @task
    def verify_token(self) -> None:
        revoked = REVOKED.pick(self.rng) if self.rng.random() < REVOKED_SHARE else None
        if revoked is not None:
            token, expected = revoked[0], ("invalid", "revoked")
        else:
            picked = POOL.pick(self.rng)
            if picked is None:
                return
            token, expected = picked[0], ("valid", None)
        with self.client.post(
            "/v1/verify",
            json={"token": token},
            headers=self.auth,
            name="POST /v1/verify {token}",
            catch_response=True,
        ) as resp:
            _expect_result(resp, 200, *expected)


class CounterCodeUser(_Base):
    """A counter typing in the 12-digit code a citizen reads out."""

    weight = 15

    def on_start(self) -> None:
        super().on_start()
        self.auth = {"Authorization": f"Bearer {next(_counter_keys)}"}

    @task
    def verify_code(self) -> None:
        picked = POOL.pick(self.rng)
        if picked is None or picked[1] is None:
            return
        with self.client.post(
            "/v1/verify",
            json={"code": picked[1]},
            headers=self.auth,
            name="POST /v1/verify {code}",
            catch_response=True,
        ) as resp:
            _expect_result(resp, 200, "valid", None)


class CitizenUser(_Base):
    """A citizen asking the app for a proof; the proof then goes to the counters."""

    weight = 12

    def on_start(self) -> None:
        super().on_start()
        self.auth = {"Authorization": f"Bearer {self.rng.choice(SEED['id_tokens'])}"}

    @task
    def request_proof(self) -> None:
        with self.client.post(
            "/v1/me/proofs",
            json={"type": "social_tariff", "qr": []},
            headers=self.auth,
            name="POST /v1/me/proofs",
            catch_response=True,
        ) as resp:
            if resp.status_code != 201:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
                return
            doc = _body(resp)
            if not isinstance(doc, dict):
                resp.failure("body is not a JSON object")
                return
            token, code, exp = doc.get("token"), doc.get("code"), doc.get("expires_at")
            if not (isinstance(token, str) and token.count(".") == 2):
                resp.failure("no signed token in the proof")
            elif not (isinstance(code, str) and len(code.replace(" ", "")) == 12):
                resp.failure(f"no 12-digit code in the proof: {code!r}")
            elif not isinstance(exp, str) or _epoch(exp) <= time.time():
                resp.failure(f"bad expires_at {exp!r}")
            elif doc.get("qr_svg") or doc.get("qr_png_base64"):
                resp.failure("a QR image came back although none was asked for")
            else:
                resp.success()
                POOL.add(token, code, _epoch(exp))


class PoliceUser(_Base):
    """Police or a parking attendant checking a disability parking card number."""

    weight = 8

    def on_start(self) -> None:
        super().on_start()
        self.auth = {"Authorization": f"Bearer {SEED['police']['api_key']}"}

    @task
    def check_card(self) -> None:
        number = self.rng.choice(SEED["cards"])
        with self.client.post(
            "/v1/parking-cards/check",
            json={"card_number": number},
            headers=self.auth,
            name="POST /v1/parking-cards/check",
            catch_response=True,
        ) as resp:
            _expect_result(resp, 200, "valid", None)
            doc = _body(resp)
            if (
                resp.status_code == 200
                and isinstance(doc, dict)
                and (doc.get("attributes") or {}).get("card_number") != number
            ):
                resp.failure("the answer is about another card")


class OfflineVerifierUser(_Base):
    """An offline verifier device keeping its keys and status list fresh."""

    weight = 4
    PATHS = {
        "jwks": ("/.well-known/jwks.json", "application/jwk-set+json"),
        "list": ("/v1/status-lists/1", "application/statuslist+jwt"),
    }

    def on_start(self) -> None:
        super().on_start()
        self.etags: dict[str, str | None] = {
            "jwks": SEED["etags"].get("/.well-known/jwks.json"),
            "list": SEED["etags"].get("/v1/status-lists/1"),
        }
        # a device starts with a full fetch, then keeps its copies fresh
        self.new_device()

    def _fetch(self, what: str, conditional: bool) -> None:
        path, media = self.PATHS[what]
        headers = {}
        if conditional and self.etags[what]:
            headers["If-None-Match"] = self.etags[what] or ""
        name = f"GET {path}" + (" (If-None-Match)" if conditional else "")
        with self.client.get(path, headers=headers, name=name, catch_response=True) as resp:
            etag = resp.headers.get("etag") if resp.headers else None
            if resp.status_code == 304 and conditional:
                if etag != self.etags[what]:
                    resp.failure(f"304 with another ETag {etag!r}")
                else:
                    resp.success()
            elif resp.status_code == 200:
                ctype = (resp.headers.get("content-type") or "").split(";")[0]
                body = resp.content or b""
                if ctype != media:
                    resp.failure(f"content-type {ctype!r}, expected {media}")
                elif not etag:
                    resp.failure("no ETag")
                elif what == "jwks" and not (_body(resp) or {}).get("keys"):
                    resp.failure("JWKS without keys")
                elif what == "list" and body.count(b".") != 2:
                    resp.failure("status list is not a JWT")
                else:
                    # a changed list (new entries, a revocation) is a legitimate 200
                    self.etags[what] = etag
                    resp.success()
            else:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")

    @task(4)
    def refresh_status_list(self) -> None:
        self._fetch("list", conditional=True)

    @task(2)
    def refresh_jwks(self) -> None:
        self._fetch("jwks", conditional=True)

    @task(1)
    def new_device(self) -> None:
        self._fetch("jwks", conditional=False)
        self._fetch("list", conditional=False)


class SourceUser(_Base):
    """An authentic source pushing small NDJSON batches of updates and new rights."""

    fixed_count = 1
    # one system feeding changes continuously, not as fast as it can
    wait_time = between(1.0, 2.0)

    def on_start(self) -> None:
        super().on_start()
        self.auth = {
            "Authorization": f"Bearer {SEED['source']['api_key']}",
            "Content-Type": "application/x-ndjson",
        }
        self.known = list(SEED["citizens_active"])
        self.nrn_rng = random.Random(SEED["seed"] + 1 + self.rng.randrange(1 << 30))
        self.defaults = SEED["holder_defaults"]

    def _line(self, i: int) -> dict[str, Any]:
        # half updates of citizens already known (a change of name), half new rights
        nrn = (
            self.rng.choice(self.known) if self.known and i % 2 == 0 else generate_nrn(self.nrn_rng)
        )
        return {
            "op": "upsert",
            "type": "social_tariff",
            "nrn": nrn,
            "holder": {
                "given_name": self.rng.choice(["Eva", "Tom", "Lina", "Bram"]),
                "family_name": self.rng.choice(["Smets", "Wouters", "Goossens"]),
            },
            "valid_from": self.defaults["valid_from"],
            "valid_until": self.defaults["valid_until"],
            "id": str(i),
        }

    @task
    def push_batch(self) -> None:
        body = "".join(json.dumps(self._line(i)) + "\n" for i in range(BATCH_LINES))
        with self.client.post(
            "/v1/entitlements:batch",
            data=body.encode(),
            headers=self.auth,
            name="POST /v1/entitlements:batch",
            catch_response=True,
        ) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
                return
            try:
                lines = [json.loads(x) for x in (resp.text or "").splitlines() if x.strip()]
            except ValueError:
                resp.failure("a result line is not JSON")
                return
            summary = lines[-1].get("summary") if lines else None
            results = lines[:-1]
            bad = [r for r in results if not r.get("ok")]
            if len(results) != BATCH_LINES:
                resp.failure(f"{len(results)} result lines for {BATCH_LINES} input lines")
            elif bad:
                resp.failure(f"lines refused: {bad[:2]}")
            elif summary != {
                "lines": BATCH_LINES,
                "ok": BATCH_LINES,
                "failed": 0,
                "complete": True,
            }:
                resp.failure(f"unexpected summary {summary}")
            else:
                resp.success()
