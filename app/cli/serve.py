"""`statuspass serve`: keys checked once in the parent, then N workers on uvicorn."""

from __future__ import annotations

import argparse
import logging

from app.config import load_settings
from app.keyring import ensure_keys
from app.logs import setup_logging

log = logging.getLogger("statuspass")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    setup_logging()
    settings = load_settings()
    # Before any worker starts: create keys on a fresh dev machine (once, not per worker),
    # refuse to start in production without them, stop on a bad key file.
    ensure_keys(
        settings.keys_dir, production=settings.production, passphrase=settings.keys_passphrase
    )
    if settings.store_url.startswith("sqlite:"):
        log.info("store: embedded SQLite (%s)", settings.store_url.removeprefix("sqlite:///"))
    import uvicorn

    uvicorn.run(
        "app.cli.asgi:app_factory",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers if args.workers > 1 else None,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
        server_header=False,
        proxy_headers=False,
    )
    return 0
