"""`statuspass serve`: keys checked once in the parent, then N workers.

Two production ASGI servers are supported; `docs/performance.md` has the measurement
behind the default. Both stop gracefully on SIGTERM: no new connections, in-flight
requests finish (up to the grace period), then the lifespan closes the store.
"""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from app.config import load_settings
from app.keyring import ensure_keys
from app.logs import setup_logging

if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]

log = logging.getLogger("statuspass")
TARGET = "app.cli.asgi:app_factory"
GRACE_S = 20


def add_parser(sub: Sub) -> None:
    p = sub.add_parser("serve", help="run the HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument(
        "--server",
        choices=["granian", "uvicorn"],
        default="granian",
        help="ASGI server (default: granian, measured faster here: docs/performance.md)",
    )
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
    if args.workers < 1:
        raise SystemExit("--workers must be at least 1")
    if args.server == "granian":
        _granian(args)
    else:
        _uvicorn(args)
    return 0


def _uvicorn(args: argparse.Namespace) -> None:
    import uvicorn

    uvicorn.run(
        TARGET,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers if args.workers > 1 else None,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACE_S,
        server_header=False,
        proxy_headers=False,
        loop="auto",
        http="auto",
    )


# granian's own lines (start, stop, worker crashes) as JSON like ours; no access log
_GRANIAN_LOGS = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "app.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {"_granian": {"handlers": ["stderr"], "level": "INFO", "propagate": False}},
}


def _granian(args: argparse.Namespace) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        TARGET,
        factory=True,
        interface=Interfaces.ASGI,
        address=args.host,
        port=args.port,
        workers=args.workers,
        log_access=False,
        log_enabled=True,
        log_dictconfig=_GRANIAN_LOGS,
        workers_kill_timeout=GRACE_S,
        respawn_failed_workers=True,
    ).serve()
