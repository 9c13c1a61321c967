"""`statuspass verify`: check a proof offline (keys and status list) or online."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from app.cli.errors import UserError, describe_os_error
from app.cli.qr_read import token_from_image
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
        description="Exit code 0 only when the proof is valid, 1 when it is not (or cannot "
        "be told), 2 on a usage error.",
    )
    p.add_argument("token", nargs="?", help="the compact JWS (or - to read stdin)")
    p.add_argument(
        "--qr",
        metavar="IMAGE",
        help="read the token from a QR code image file (PNG, JPEG, or the service's SVG)",
    )
    p.add_argument("--code", help="a 12-digit numeric code (online only; spaces allowed)")
    p.add_argument(
        "--jwks",
        metavar="FILE|URL",
        help="the issuer's JWKS (offline), e.g. https://ISSUER/.well-known/jwks.json",
    )
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
        metavar="SECONDS",
        help="how old the --jwks file may be, in seconds, before the answer is "
        "undetermined (default: 86400, one day)",
    )
    p.add_argument(
        "--online",
        metavar="URL",
        help="verify online against the Statuspass service at this base URL",
    )
    p.add_argument("--api-key", help="the verifier's API key, for --online")
    p.add_argument(
        "--types",
        metavar="T1,T2",
        help="comma-separated entitlement types this verifier accepts (offline; default all)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def _read(source: str, what: str) -> tuple[bytes, datetime]:
    """The bytes of a file or an http(s) URL, and when they were read (a file: its mtime).

    Raises:
        UserError: naming the file or URL that could not be read, and why.
    """
    if source.startswith(("http://", "https://")):
        req = urllib.request.Request(source, headers={"User-Agent": "statuspass"})  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - http(s) checked
                return resp.read(MAX_FETCH), datetime.now(UTC)
        except urllib.error.HTTPError as exc:
            raise UserError(f"cannot fetch {what} from {source}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise UserError(f"cannot fetch {what} from {source}: {_why(exc)}") from None
    path = Path(source)
    try:
        return path.read_bytes(), datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError as exc:
        raise UserError(f"cannot read {what}: {describe_os_error(exc, source)}") from None


def _why(exc: BaseException) -> str:
    """'connection refused', 'timed out', … without urllib's nesting of reasons."""
    reason: object = getattr(exc, "reason", exc)
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(exc).__name__


def _unverified_list_uri(token: str) -> str | None:
    try:
        part = token.split(".")[1]
        import base64

        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        uri = claims["status"]["status_list"]["uri"]
        return uri if isinstance(uri, str) else None
    except (IndexError, KeyError, TypeError, ValueError):
        return None


class Offline(msgspec.Struct, frozen=True):
    """An offline result and, when revocation could not be checked, why in words."""

    result: VerificationResult
    note: str | None = None


def _offline(token: str, args: argparse.Namespace) -> Offline:
    settings = load_settings()
    if not args.jwks:
        raise UserError("offline verification needs --jwks FILE|URL (the issuer you trust)")
    raw, fetched = _read(args.jwks, "the keys (--jwks)")
    try:
        keys = KeySet(keys=parse_jwks(raw), fetched_at=fetched, max_age_s=args.keys_max_age)
    except (JoseError, ValueError) as exc:
        raise UserError(f"{args.jwks} is not a JWKS: {exc}") from None
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
    refused = None
    if source:
        body, _ = _read(source, "the status list")
        try:
            sl = parse_status_list(body.decode("ascii").strip(), keys.keys)
            lists[sl.uri] = sl
        except (JoseError, UnicodeDecodeError) as exc:
            refused = str(exc)
    types = [t for t in (args.types or "").split(",") if t] or None
    result = verify_offline(
        token,
        jwks=keys,
        status_lists=lists,
        now=datetime.now(UTC),
        registry=load_registry(settings.registry),
        allowed_types=types,
        skew_s=settings.clock_skew_s,
    )
    note = None
    if result.reason == "stale_status_list" and uri not in lists:
        # The verifier's answer stays `undetermined` (SPEC: no list for the proof's URI),
        # but the user is told the actual cause rather than "stale".
        if not source:
            note = "no status list given: pass --status-list FILE|URL, or --jwks as a URL"
        elif refused is not None:
            note = f"the status list from {source} was refused: {refused}"
        else:
            note = f"the status list from {source} is not the proof's ({uri})"
    return Offline(result=result, note=note)


def _online(token: str | None, args: argparse.Namespace) -> VerificationResult:
    if not args.api_key:
        raise UserError("--online needs --api-key")
    if not args.online.startswith(("http://", "https://")):
        raise UserError(f"--online takes an http(s) URL, not {args.online!r}")
    body = {"code": args.code} if args.code else {"token": token}
    url = args.online.rstrip("/") + "/v1/verify"
    req = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {args.api_key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - http(s) checked
            return msgspec.json.decode(resp.read(), type=VerificationResult)
    except urllib.error.HTTPError as exc:
        detail = " ".join(exc.read()[:500].decode("utf-8", "replace").split())
        raise UserError(f"{url} answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise UserError(f"cannot reach {url}: {_why(exc)}") from None
    except msgspec.DecodeError:
        raise UserError(f"{url} did not answer with a verification result") from None


def describe(r: VerificationResult, note: str | None = None) -> str:
    head = r.result.upper() + (f" ({note or r.reason})" if note or r.reason else "")
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
        token = token_from_image(args.qr)
    if token is None and not (args.online and args.code):
        raise UserError("give a TOKEN, --qr IMAGE, or --online URL --code CODE")
    note = None
    try:
        if args.online:
            result = _online(token, args)
        else:
            checked = _offline(str(token), args)
            result, note = checked.result, checked.note
    except (StatuspassError, JoseError) as exc:
        raise UserError(str(exc)) from None
    if args.json:
        out: Any = msgspec.to_builtins(result)
        print(json.dumps(out, ensure_ascii=False))
        if note:
            print(f"note: {note}", file=sys.stderr)
    else:
        print(describe(result, note))
    return 0 if result.result == "valid" else 1
