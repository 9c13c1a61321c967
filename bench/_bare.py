"""The ceiling of this stack: a bare Litestar app that only signs or only verifies a JWT.

Served by the same ASGI server (BENCH_SERVER, default auto, resolved as `statuspass serve`
does) and settings as
`statuspass serve` (see app/cli/serve.py),
so that the measured endpoints and this one differ only in what the handler does:

* ``POST /sign`` — body ``{"type": "social_tariff", "qr": []}``; signs a proof-shaped
  JWT (same claims, same size) with an ES256 key through `app.tokens.sign`. No auth, no
  store, no QR.
* ``POST /verify`` — body ``{"token": "…"}``; `app.tokens.decode_verified` of a token this
  process signed (ES256 signature, strict header checks, claims JSON). No auth, no store.
* ``POST /verify-store`` — with ``BENCH_BARE_REDIS=URL``: ``/verify``, then the least
  an online check needs from the store: one ``EVALSHA`` that reads the token's status
  bit and appends a record of about an audit record's size to a list (durable as the
  server's AOF settings make it), over `app.storage.redis.mux` (the service's own
  Redis client). No auth, no audit chain, no counters: the floor of "verify + one
  store round trip" on this machine.
* ``POST /sign-store`` — with ``BENCH_BARE_REDIS=URL``: ``/sign`` between the two round
  trips of a first issuance at a worker (the entitlement is read live before signing; the
  proof, its numeric code and an audit-sized record are written durably after it; a
  renewal at the same worker skips the read, `app.storage.redis.ctx.EntitlementHints`): one
  ``EVALSHA`` reading a hash field, one writing a code key, a proof hash with its TTL
  and a list record. No auth, no audit chain: the floor of "sign + read + durable
  write" on this machine.
* ``GET /bytes/{name}`` — with ``BENCH_BARE_BYTES=DIR``: the bytes of ``DIR/name.body``
  with the ETag and media type of ``DIR/name.meta``, 304 on a matching If-None-Match
  (the rule of `app.api.routes.public`), and ``Cache-Control``. Nothing else.
* ``GET /health``.

Run: ``python bench/_bare.py --port 8100`` (the benchmarks start it themselves).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from litestar import Litestar, Request, Response, get, post

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.cli.serve import resolve_server, uvicorn_options, uvicorn_worker
from app.cli.workers import Supervisor
from app.storage.redis.conn import parse_url
from app.storage.redis.mux import MuxScripts
from app.tokens import PROOF_TYP, JoseError, SigningKey, decode_verified, encode_proof

ISSUER = os.environ.get("BENCH_BARE_ISSUER", "https://statuspass.example.org")


def _shared_key() -> SigningKey:
    """One signing key for every worker of this server.

    Each worker is a process of its own that imports this module. A key generated at
    import would differ per worker, and a token signed by one worker would meet an
    unknown kid in the others, answered at once without a signature check (or, at
    /verify-store, a store call): at 2 workers about half of the ceiling's verifications
    did no verification at all. So the first import (the server's parent) generates the
    key and passes it to the workers it starts in the environment; a throwaway key, in
    no file.
    """
    pem = os.environ.get("BENCH_BARE_KEY_PEM")
    if pem is None:
        key = SigningKey.generate("ES256")
        os.environ["BENCH_BARE_KEY_PEM"] = key.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        return key
    loaded = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    return SigningKey.from_private_key(loaded)


KEY = _shared_key()
KEYS = {KEY.kid: KEY.public()}
LIST_URI = f"{ISSUER}/v1/status-lists/0001"


class SignRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    type: str
    qr: list[str] = []


class SignResponse(msgspec.Struct, frozen=True):
    token: str
    jti: str


class VerifyRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    token: str


class VerifyResponse(msgspec.Struct, frozen=True):
    valid: bool
    jti: str | None = None


def _signed(data: SignRequest) -> SignResponse:
    now = int(time.time())
    jti = secrets.token_urlsafe(12)
    token = encode_proof(
        KEY,
        issuer=ISSUER,
        iat=now,
        exp=now + 300,
        jti=jti,
        type_id=data.type,
        name="J. PEETERS",
        list_uri=LIST_URI,
        idx=secrets.randbelow(1 << 20),
        attributes={},
    )
    return SignResponse(token=token, jti=jti)


@post("/sign", status_code=201)
async def sign_one(data: SignRequest) -> SignResponse:
    return _signed(data)


@post("/verify", status_code=200)
async def verify_one(data: VerifyRequest) -> VerifyResponse:
    try:
        _, claims = decode_verified(data.token, KEYS, typ=PROOF_TYP)
    except JoseError:
        return VerifyResponse(valid=False)
    return VerifyResponse(valid=True, jti=claims.get("jti"))


#: read the status bit, append the record: what every online check does on the store
_FLOOR_SCRIPT = """
local status = redis.call('GETBIT', KEYS[1], ARGV[1])
redis.call('RPUSH', KEYS[2], ARGV[2])
return status
"""
_REDIS_URL = os.environ.get("BENCH_BARE_REDIS")
_mux: MuxScripts | None = None
#: one list per worker, as the service keeps one audit chain per worker
_CHAIN = f"bare:chain:{secrets.token_hex(4)}"
#: brings the appended record to about an audit record's size
_PAD = "x" * 240


#: what an issuance reads before signing: its entitlement
_READ_SCRIPT = """
return redis.call('HGET', KEYS[1], ARGV[1])
"""
#: what it writes after: the code, the proof (with its TTL) and the audit record
_SAVE_SCRIPT = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[4])
return 1
"""


def _scripts() -> MuxScripts:
    global _mux
    if _mux is None:
        assert _REDIS_URL, "BENCH_BARE_REDIS is not set"
        sources = {"floor": _FLOOR_SCRIPT, "read": _READ_SCRIPT, "save": _SAVE_SCRIPT}
        _mux = MuxScripts(parse_url(_REDIS_URL), sources, timeout_s=5.0)
    return _mux


@post("/verify-store", status_code=200)
async def verify_with_store(data: VerifyRequest) -> VerifyResponse:
    mux = _scripts()
    try:
        _, claims = decode_verified(data.token, KEYS, typ=PROOF_TYP)
    except JoseError:
        return VerifyResponse(valid=False)
    idx = claims["status"]["status_list"]["idx"]
    record = msgspec.json.encode({"jti": claims.get("jti"), "pad": _PAD})
    status = await mux.run("floor", ["bare:bits", _CHAIN], [idx, record])
    return VerifyResponse(valid=status == 0, jti=claims.get("jti"))


@post("/sign-store", status_code=201)
async def sign_with_store(data: SignRequest) -> SignResponse:
    mux = _scripts()
    await mux.run("read", ["bare:entitlements"], [data.type])
    answer = _signed(data)
    code = f"{secrets.randbelow(10**10):010d}"
    record = msgspec.json.encode({"jti": answer.jti, "pad": _PAD})
    await mux.run(
        "save",
        [f"bare:code:{code}", f"bare:proof:{answer.jti}", _CHAIN],
        [answer.jti, 300_000, answer.token, record],
    )
    return answer


def _load_bytes() -> dict[str, tuple[bytes, str, str]]:
    folder = os.environ.get("BENCH_BARE_BYTES")
    if not folder:
        return {}
    out = {}
    for meta in Path(folder).glob("*.meta"):
        info = json.loads(meta.read_text())
        out[meta.stem] = (meta.with_suffix(".body").read_bytes(), info["etag"], info["media"])
    return out


BYTES = _load_bytes()


@get("/bytes/{name:str}", sync_to_thread=False)
def fixed_bytes(request: Request[Any, Any, Any], name: str) -> Response[bytes]:
    body, etag, media = BYTES[name]
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(b"", status_code=304, headers=headers)
    return Response(body, media_type=media, headers=headers)


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


def app_factory() -> Litestar:
    handlers = [sign_one, verify_one, verify_with_store, sign_with_store, fixed_bytes, health]
    return Litestar(route_handlers=handlers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--server", choices=["auto", "granian", "uvicorn"], default="auto")
    args = parser.parse_args()
    args.server = resolve_server(args.server, args.workers)
    here = Path(__file__).resolve().parent
    os.chdir(here)
    # The same server and settings as app/cli/serve.py, so the ratio compares our code,
    # not two servers.
    if args.server == "granian":
        from granian import Granian
        from granian.constants import Interfaces

        Granian(
            "_bare:app_factory",
            factory=True,
            interface=Interfaces.ASGI,
            address=args.host,
            port=args.port,
            workers=args.workers,
            log_access=False,
            working_dir=here,
        ).serve()
        return
    options = uvicorn_options(args.host, args.port)
    if args.workers == 1:
        uvicorn.run("_bare:app_factory", **options)
        return
    # several workers as `statuspass serve` runs them: each on its own SO_REUSEPORT socket
    Supervisor(
        partial(uvicorn_worker, "_bare:app_factory", options),
        host=args.host,
        port=args.port,
        count=args.workers,
        grace_s=20,
    ).run()


if __name__ == "__main__":
    main()
