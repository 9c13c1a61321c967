"""The headers the controllers read (`app.api.deps`), as the ASGI server passes them."""

from __future__ import annotations

from typing import Any

from litestar import Request

from app.api.deps import bearer, header, lang_of


def _request(headers: list[tuple[bytes, bytes]]) -> Request[Any, Any, Any]:
    scope: Any = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    return Request(scope)


def test_reads_what_litestar_reads() -> None:
    # a server that keeps the client's spelling of names, a repeated header, latin-1
    raw = [
        (b"Authorization", b"Bearer  abc.def "),
        (b"authorization", b"Bearer other"),
        (b"ACCEPT-LANGUAGE", b"fr-BE, nl;q=0.8"),
        (b"x-note", "caf\u00e9".encode("latin-1")),
    ]
    request = _request(raw)
    for name in ("authorization", "accept-language", "x-note", "content-type"):
        assert header(request, name.encode()) == request.headers.get(name)
    assert bearer(request) == "abc.def"
    assert lang_of(request) == "fr"


def test_no_or_other_credentials_are_no_bearer_token() -> None:
    assert bearer(_request([])) is None
    assert bearer(_request([(b"authorization", b"Basic dXNlcjpwdw==")])) is None
    assert bearer(_request([(b"authorization", b"Bearer   ")])) is None
