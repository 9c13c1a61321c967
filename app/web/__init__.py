"""The web apps the service serves itself (`/verifier/`, `/citizen/`).

Their sources live in `web/` at the repository root and are built by
``npm --prefix web ci && npm --prefix web run build`` into `app/web/static/<app>/`
(git-ignored, never edited by hand); `serving` answers for those files.
"""

from __future__ import annotations

from app.web.serving import APP_CSP, STATIC_ROOT, WebFiles, web_app_handlers

__all__ = ["APP_CSP", "STATIC_ROOT", "WebFiles", "web_app_handlers"]
