"""Serving the built web apps: one route per app, files held in memory.

Only the files the build wrote are served, looked up by exact name in an in-memory
index made at start-up: no path from a request ever reaches the file system, so there
is nothing to traverse. Each answer carries

* the content type by extension (``application/wasm`` for the QR decoder: browsers
  compile it only under that type; the edge adds ``nosniff``);
* ``Cache-Control``: a year and ``immutable`` for the content-hashed assets
  (``main.3F2A9C1B.js``), ``no-cache`` for the fixed names (the page, its service
  worker, the manifest) so a deployment reaches every device on its next visit;
* a strong ``ETag`` (304 on ``If-None-Match``) and the precompressed twin the build
  wrote (``.br``, ``.gz``) when the browser accepts it;
* the pages' own CSP (the edge keeps a page's own): everything from this origin only,
  no inline script or style, plus ``'wasm-unsafe-eval'``, which WebAssembly compilation
  needs and which allows no JavaScript ``eval``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.response import Redirect

from app.api.problems import problem

__all__ = ["APP_CSP", "STATIC_ROOT", "WebFiles", "app_csp", "web_app_handlers"]

STATIC_ROOT = Path(__file__).with_name("static")
APPS = ("verifier", "citizen")


def app_csp(connect: Sequence[str] = ()) -> str:
    """The pages' CSP; `connect` adds origins the app may call besides its own (the
    citizen app's e-ID provider, when that lives on another origin)."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            " ".join(["connect-src 'self'", *connect]),
            "worker-src 'self'",
            "manifest-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


APP_CSP = app_csp()
# (nosniff, and HEAD as GET without the body, come from the edge: app.api.edge.hygiene)
_SECURITY_HEADERS = {
    "Content-Security-Policy": APP_CSP,
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    # the verifier scans with the camera; nothing else is ever asked for
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=()",
}
#: Litestar adds "; charset=utf-8" to text/* itself
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".wasm": "application/wasm",
    ".webmanifest": "application/manifest+json",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
#: names the build gives content-hashed files: ``name.HASH8.ext``
_HASHED = re.compile(r"^[\w-]+\.[A-Z0-9]{8}\.\w+$")
_IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class _File:
    body: bytes
    media_type: str
    etag: str
    cache_control: str
    encoded: Mapping[str, bytes]  # "br"/"gzip" -> the precompressed body


class WebFiles:
    """The built files of one app, read once (a few hundred KB)."""

    def __init__(self, folder: Path, *, connect: Sequence[str] = ()) -> None:
        self.folder = folder
        self.headers = {**_SECURITY_HEADERS, "Content-Security-Policy": app_csp(connect)}
        self.files: dict[str, _File] = {}
        if not folder.is_dir():
            return
        for path in sorted(folder.iterdir()):
            media = _TYPES.get(path.suffix)
            if media is None or not path.is_file():
                continue  # the .br/.gz twins are attached to their original below
            body = path.read_bytes()
            encoded = {
                coding: twin.read_bytes()
                for coding, suffix in (("br", ".br"), ("gzip", ".gz"))
                if (twin := path.with_name(path.name + suffix)).is_file()
            }
            self.files[path.name] = _File(
                body=body,
                media_type=media,
                etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"',
                cache_control=_IMMUTABLE if _HASHED.match(path.name) else "no-cache",
                encoded=encoded,
            )

    def answer(self, request: Request[Any, Any, Any], name: str) -> Response[Any]:
        found = self.files.get(name)
        if found is None:
            detail = (
                "no such file"
                if self.files
                else "the web apps are not built: npm --prefix web ci && npm --prefix web run build"
            )
            return problem(404, "not-found", "Not found", detail, dict(self.headers))
        headers = {
            **self.headers,
            "Cache-Control": found.cache_control,
            "ETag": found.etag,
        }
        if found.encoded:
            headers["Vary"] = "Accept-Encoding"
        if found.etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
            return Response(b"", status_code=304, headers=headers)
        body = found.body
        accepted = _accepted_codings(request.headers.get("accept-encoding", ""))
        for coding in ("br", "gzip"):
            if coding in accepted and coding in found.encoded:
                body = found.encoded[coding]
                headers["Content-Encoding"] = coding
                break
        return Response(body, media_type=found.media_type, headers=headers)


def _accepted_codings(header: str) -> set[str]:
    """Codings the browser accepts (``q=0`` refuses one, RFC 9110 12.5.3)."""
    codings = set()
    for part in header.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name and q > 0:
            codings.add(name.lower())
    return codings


def _handler_for(app: str, files: WebFiles) -> HTTPRouteHandler:
    # Litestar matches "/verifier" and "/verifier/" alike; the page's relative URLs
    # (sw.js, its scope, the bundles) only work under the latter, hence the redirect.
    @get(
        [f"/{app}", f"/{app}/{{name:str}}"],
        include_in_schema=False,
        sync_to_thread=False,
        name=f"web-{app}",
    )
    def serve(request: Request[Any, Any, Any]) -> Response[Any]:
        name: str | None = request.path_params.get("name")
        # the router strips the trailing slash from "path"; "raw_path" keeps it
        raw = request.scope.get("raw_path") or b"/"
        if name is None and not raw.endswith(b"/"):
            return Redirect(f"/{app}/", status_code=308)
        return files.answer(request, name or "index.html")

    return serve


def web_app_handlers(
    root: Path = STATIC_ROOT, *, connect: Mapping[str, Sequence[str]] | None = None
) -> list[HTTPRouteHandler]:
    """Route handlers for every app (built or not: an unbuilt app answers 404 saying so);
    `connect` names, per app, the other origins its pages may call."""
    handlers: list[HTTPRouteHandler] = []
    for app in APPS:
        files = WebFiles(root / app, connect=(connect or {}).get(app, ()))
        handlers.append(_handler_for(app, files))
    return handlers
