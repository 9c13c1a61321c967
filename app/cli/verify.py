"""`statuspass verify`: check a proof offline (keys and status list) or online."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from app.config import load_settings
from app.domain.registry import load_registry
from app.errors import StatuspassError
from app.tokens import (
    JoseError,
    KeySet,
    StatusList,
    VerificationResult,
    parse_jwks,
    parse_status_list,
    verify_offline,
)

MAX_FETCH = 16 * 1024 * 1024


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify",
        help="verify a proof offline or online",
        description="Exit code 0 only when the proof is valid.",
    )
    p.add_argument("token", nargs="?", help="the compact JWS (or - to read stdin)")
    p.add_argument("--qr", metavar="IMAGE", help="read the token from a QR code image")
    p.add_argument("--code", help="a 12-digit numeric code (online only)")
    p.add_argument("--jwks", metavar="FILE|URL", help="the issuer's JWKS (offline)")
    p.add_argument(
        "--status-list",
        metavar="FILE|URL",
        help="the status list token (default: fetched from the token's list URI "
        "when it is on the same host as --jwks)",
    )
    p.add_argument(
        "--keys-max-age",
        type=int,
        default=86_400,
        help="how old cached keys may be before the answer is undetermined",
    )
    p.add_argument("--online", metavar="URL", help="verify online against this Statuspass")
    p.add_argument("--api-key", help="verifier API key for --online")
    p.add_argument("--types", help="comma-separated types this verifier accepts (offline)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def _read(source: str) -> tuple[bytes, datetime]:
    if source.startswith(("http://", "https://")):
        req = urllib.request.Request(source, headers={"User-Agent": "statuspass"})  # noqa: S310
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - http(s) checked
            return resp.read(MAX_FETCH), datetime.now(UTC)
    path = Path(source)
    return path.read_bytes(), datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _token_from_qr(image: str) -> str:
    try:
        import zxingcpp
        from PIL import Image
    except ImportError:
        raise SystemExit("reading QR images needs: pip install 'statuspass[qr-decode]'") from None
    found = zxingcpp.read_barcodes(Image.open(image))
    texts = [r.text for r in found if r.format == zxingcpp.BarcodeFormat.QRCode]
    if not texts:
        raise SystemExit(f"no QR code found in {image}")
    return str(texts[0])


def _unverified_list_uri(token: str) -> str | None:
    try:
        part = token.split(".")[1]
        import base64

        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        uri = claims["status"]["status_list"]["uri"]
        return uri if isinstance(uri, str) else None
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def _offline(token: str, args: argparse.Namespace) -> VerificationResult:
    settings = load_settings()
    if not args.jwks:
        raise SystemExit("offline verification needs --jwks FILE|URL (the issuer you trust)")
    raw, fetched = _read(args.jwks)
    keys = KeySet(keys=parse_jwks(raw), fetched_at=fetched, max_age_s=args.keys_max_age)
    lists: dict[str, StatusList] = {}
    source = args.status_list
    uri = _unverified_list_uri(token)
    # only from the host we already trust for keys: never follow a URL a token names
    if (
        source is None
        and uri
        and args.jwks.startswith(("http://", "https://"))
        and urlsplit(uri).netloc == urlsplit(args.jwks).netloc
    ):
        source = uri
    if source:
        body, _ = _read(source)
        try:
            sl = parse_status_list(body.decode("ascii").strip(), keys.keys)
            lists[sl.uri] = sl
        except (JoseError, UnicodeDecodeError) as exc:
            print(f"warning: status list refused ({exc})", file=sys.stderr)
    types = [t for t in (args.types or "").split(",") if t] or None
    return verify_offline(
        token,
        jwks=keys,
        status_lists=lists,
        now=datetime.now(UTC),
        registry=load_registry(settings.registry),
        allowed_types=types,
        skew_s=settings.clock_skew_s,
    )


def _online(token: str | None, args: argparse.Namespace) -> VerificationResult:
    if not args.api_key:
        raise SystemExit("--online needs --api-key")
    if not args.online.startswith(("http://", "https://")):
        raise SystemExit("--online takes an http(s) URL")
    body = {"code": args.code} if args.code else {"token": token}
    req = urllib.request.Request(  # noqa: S310 - scheme checked above
        args.online.rstrip("/") + "/v1/verify",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {args.api_key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - http(s) checked
            return msgspec.json.decode(resp.read(), type=VerificationResult)
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode("utf-8", "replace")
        raise SystemExit(f"the service answered {exc.code}: {detail}") from None


def describe(r: VerificationResult) -> str:
    head = r.result.upper() + (f" ({r.reason})" if r.reason else "")
    parts = [head]
    if r.entitlement:
        parts.append(r.entitlement.label)
    if r.holder:
        parts.append(r.holder.name)
    if r.attributes and "card_number" in r.attributes:
        parts.append(f"card {r.attributes['card_number']}")
    if r.valid_until:
        parts.append(f"valid until {r.valid_until}")
    how = {
        "online": "revocation checked online",
        "status_list": "revocation checked with the "
        f"status list ({r.status_list_age_s or 0} s old)",
        "none": "revocation not checked",
    }
    parts.append(how.get(r.revocation_checked, r.revocation_checked))
    if r.seen and r.seen.count:
        parts.append(
            f"seen {r.seen.count} time(s) before by {r.seen.organisations} organisation(s)"
        )
    return " — ".join(parts)


def run(args: argparse.Namespace) -> int:
    token: str | None = args.token
    if token == "-":  # noqa: S105 - the stdin marker, not a secret
        token = sys.stdin.read().strip()
    if args.qr:
        token = _token_from_qr(args.qr)
    if token is None and not (args.online and args.code):
        raise SystemExit("give a TOKEN, --qr IMAGE, or --online URL --code CODE")
    try:
        result = _online(token, args) if args.online else _offline(str(token), args)
    except (OSError, StatuspassError, JoseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        out: Any = msgspec.to_builtins(result)
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(describe(result))
    return 0 if result.result == "valid" else 1
