"""HTTP hygiene (SPEC "HTTP hygiene"): the headers every answer of the service carries.

One policy, applied by `app.api.edge.middleware.Edge` to the start of every HTTP answer, whichever
part of the app made it (a route, Litestar's own 404 and 405, an exception handler, the
raw ASGI batch handler, the API docs pages, the web apps):

* `X-Content-Type-Options: nosniff` on every answer: a browser never runs a body as
  anything but its declared type.
* `Cache-Control: no-store` unless the answer says how it may be cached. Answers with a
  token, a code, a name or a verification result must never sit in a browser's or a
  proxy's cache; with no-store as the default, a new route cannot forget it. The public
  documents (keys, metadata, status lists) and static assets set their own.
* On HTML pages, a Content-Security-Policy that allows the service's own origin only:
  no script, style, frame or connection anywhere else, no inline script or style.
  `data:` images are allowed, since they load nothing (the API docs' stylesheet draws
  its icons with them). A page that needs another policy sends its own header, which is
  kept as it is.
* On the public documents (routes declared with `opt={"cors": True}`), CORS for
  everyone: `Access-Control-Allow-Origin: *` and an answer to preflights, so verifier
  apps of any origin can fetch keys and status lists, as the IETF Token Status List
  draft asks. Every other route sends no CORS header at all: a page of another origin
  can neither read nor (with a preflight) send anything there.

Reuse: a new route gets all of this by passing the edge; HTML it serves gets the CSP by
its content type; a public document needs `opt={"cors": True}` and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable

from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.types import HTTPResponseStartEvent, Scope

__all__ = ["CONTENT_SECURITY_POLICY", "CORS_OPT", "Hygiene", "public_routes"]

#: the handler option that makes a route a public document (CORS for every origin)
CORS_OPT = "cors"
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")
_CSP = (b"content-security-policy", CONTENT_SECURITY_POLICY.encode())
_CORS = (
    (b"access-control-allow-origin", b"*"),
    # ETag is not a CORS-safelisted response header: a verifier's own cache logic needs it
    (b"access-control-expose-headers", b"ETag"),
)
_PREFLIGHT = (
    (b"access-control-allow-methods", b"GET, HEAD"),
    # conditional requests are what keep a verifier's refreshes cheap
    (b"access-control-allow-headers", b"If-None-Match"),
    (b"access-control-max-age", b"86400"),
)


def public_routes(app: Litestar) -> frozenset[str]:
    """The path templates of the app's routes declared public (`opt={"cors": True}`)."""
    return frozenset(
        route.path_format
        for route in app.routes
        if isinstance(route, HTTPRoute)
        and any(handler.opt.get(CORS_OPT) for handler in route.route_handlers)
    )


class Hygiene:
    """The header policy of one app, given the path templates of its public documents."""

    def __init__(self, public: Iterable[str] = ()) -> None:
        self.public = frozenset(public)

    def start(self, scope: Scope, message: HTTPResponseStartEvent) -> HTTPResponseStartEvent:
        """The answer's start message with the policy's headers added (a new message:
        some answers are prepared once and sent many times)."""
        headers: list[tuple[bytes, bytes]] = []
        cached = html = own_csp = False
        for name, value in message.get("headers", ()):
            lower = name.lower()
            if lower == b"cache-control":
                cached = True
            elif lower == b"content-type":
                html = value.startswith(b"text/html")
            elif lower == b"content-security-policy":
                own_csp = True
            elif lower == b"allow" and b"GET" in value and b"HEAD" not in value:
                value = value.replace(b"GET", b"GET, HEAD", 1)  # the edge answers HEAD
            headers.append((name, value))
        headers.append(_NOSNIFF)
        if not cached:
            headers.append(_NO_STORE)
        if html and not own_csp:
            headers.append(_CSP)
        if scope.get("path_template") in self.public:
            headers.extend(_CORS)
            if scope.get("method") == "OPTIONS":
                headers.extend(_PREFLIGHT)
        out = message.copy()
        out["headers"] = headers
        return out
