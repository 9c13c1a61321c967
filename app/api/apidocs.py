"""The API docs UI at `/schema`: Swagger UI, served by the service itself.

Litestar's UI pages load their scripts from a CDN (unpinned, without integrity): blank
without internet, and a page that runs whatever that CDN serves today. Here the assets
come from the `swagger-ui-py` wheel, a Swagger UI build inside a PyPI package, so the
version is the one installed with the service, and `/schema/ui/…` serves them. The page
has no inline script or style and loads nothing from another origin: it runs under the
same-origin Content-Security-Policy of every HTML page (`app.api.edge.hygiene`).
"""

from __future__ import annotations

import html
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.params import FromPath
from litestar.router import Router

from app.api.edge.answer import conditional
from app.errors import ConfigError

__all__ = ["ASSETS", "SwaggerUI"]

_OWN = Path(__file__).parent / "static"
#: what /schema/ui/ serves (nothing else of the package's folder): name -> media type
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "index.css": "text/css",
    "favicon-32x32.png": "image/png",
    "apidocs.js": "text/javascript",  # ours: starts the UI (app/api/static)
}
#: the assets change only with an upgrade; a client revalidates (ETag) after this
_MAX_AGE_S = 3600


def _vendor_folder() -> Path:
    """The static folder of the installed swagger-ui-py, found without importing it
    (its package imports its framework adapters; only the files are wanted)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("swagger-ui-py is not installed: reinstall statuspass")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


class SwaggerUI(OpenAPIRenderPlugin):
    """Swagger UI from the installed package; its assets at `<schema path>/ui/<name>`."""

    def __init__(self, *, path: str | Sequence[str] = ("/", "/swagger")) -> None:
        # no favicon or style of Litestar's own: a CDN link and an inline <style>
        super().__init__(path=path, favicon="", style="")
        vendor = _vendor_folder()
        self._files = {name: (_OWN if name == "apidocs.js" else vendor) / name for name in ASSETS}
        missing = [str(p) for p in self._files.values() if not p.is_file()]
        if missing:
            raise ConfigError(f"API docs assets missing: {', '.join(missing)}")
        self._loaded: dict[str, bytes] = {}
        self._base = "/schema/ui"

    def receive_router(self, router: Router) -> None:
        self._base = router.path.rstrip("/") + "/ui"

        @get("/ui/{name:str}", sync_to_thread=False, include_in_schema=False)
        def asset(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
            if name not in ASSETS:
                raise NotFoundException(detail="no such file")
            body = self._loaded.get(name)
            if body is None:  # read once per worker, on first use
                body = self._loaded[name] = self._files[name].read_bytes()
            return conditional(request, body, ASSETS[name], _MAX_AGE_S)

        router.register(asset)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        spec = html.escape(self.get_openapi_json_route(request))
        ui = html.escape(self._base)
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} API</title>
<link rel="icon" type="image/png" href="{ui}/favicon-32x32.png">
<link rel="stylesheet" href="{ui}/swagger-ui.css">
<link rel="stylesheet" href="{ui}/index.css">
<script src="{ui}/swagger-ui-bundle.js" defer></script>
<script src="{ui}/apidocs.js" defer></script>
</head>
<body>
<div id="swagger-ui" data-openapi="{spec}"></div>
<noscript><p>The OpenAPI document: <a href="{spec}">{spec}</a></p></noscript>
</body>
</html>
""".encode()
