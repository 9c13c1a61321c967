"""`statuspass serve`: keys checked once in the parent, then N workers.

Before any worker starts, the parent checks what would make every worker fail the same
way (keys, the identity providers, the issuer in production) and that no other process
listens on the address (`app.cli.address`): each is one line and exit code 2 here,
instead of a crash loop of workers.

Unless STATUSPASS_ISSUER is set, the issuer is the address served: `--port 8123` issues
tokens whose `iss` and status-list URIs point at :8123, where offline verifiers find the
keys and lists. In production the issuer must be set, and be https.

Two production ASGI servers are supported; `docs/performance.md` has the measurements
behind the default (`auto`: granian for one worker, uvicorn for several). Both stop
gracefully on SIGTERM: no new connections, in-flight requests finish (up to the grace
period), then the lifespan closes the store.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from app.cli.address import claim, served_issuer
from app.cli.errors import UserError
from app.config import Settings, issuer_configured, load_settings
from app.errors import ConfigError
from app.keys import audit_keys_for, keyring_for
from app.logs import setup_logging

if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]

log = logging.getLogger("statuspass")
TARGET = "app.cli.asgi:app_factory"
GRACE_S = 20


def add_parser(sub: Sub) -> None:
    p = sub.add_parser("serve", help="run the HTTP API")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="the IP address to listen on (default: 127.0.0.1; 0.0.0.0 for all interfaces)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=8000,
        help="the TCP port to listen on (default: 8000); refused when another process "
        "listens there",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes, at most one per CPU core is useful (default: 1)",
    )
    p.add_argument(
        "--server",
        choices=["auto", "granian", "uvicorn"],
        default="auto",
        help="ASGI server. auto (the default): granian for one worker, uvicorn for several"
        " (each the faster there, measured: docs/performance.md, 'Servers')",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    setup_logging()
    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, not {args.port}")
    settings = load_settings()
    if settings.production:
        _preflight(settings)  # creates nothing in production: refuse before anything else
    address = claim(args.host, args.port)
    try:
        if not settings.production:
            _preflight(settings)  # may create the first keys: only once the address is ours
        args.port = address.port  # port 0: the one the probe found free
        if not issuer_configured():
            issuer = served_issuer(args.host, args.port)
            # the workers read their settings from the environment they inherit
            os.environ["STATUSPASS_ISSUER"] = issuer
            log.info("issuer: %s, the address served (set STATUSPASS_ISSUER to change)", issuer)
        if settings.store_url.startswith("sqlite:"):
            log.info("store: embedded SQLite (%s)", settings.store_url.removeprefix("sqlite:///"))
        with _shared_metrics(args.workers):
            if resolve_server(args.server, args.workers) == "granian":
                _granian(args)
                return 0
            return _uvicorn(args)
    finally:
        address.close()


def _preflight(settings: Settings) -> None:
    """What every worker builds at start-up and may refuse, checked once in the parent.

    Keys: created on a fresh development machine (once, not per worker), refused when
    missing in production or unreadable. In production, an https issuer. The registry.
    The identity providers: production without OIDC settings, an unreadable OIDC JWKS.

    Raises:
        ConfigError: one line saying what to fix.
    """
    from app.auth import CitizenAuthenticator
    from app.domain.registry import load_registry

    keyring = keyring_for(settings)
    if settings.production and not issuer_configured():
        raise ConfigError(
            "STATUSPASS_ENV=production needs STATUSPASS_ISSUER, the service's public "
            "https URL (it is in every token and status-list URI)"
        )
    if settings.production and not settings.issuer.startswith("https://"):
        raise ConfigError(
            f"STATUSPASS_ISSUER must be an https URL in production, not {settings.issuer}"
        )
    load_registry(settings.registry)
    # the workers say it again, each in its own log lines: quiet here
    quiet = logging.getLogger("statuspass")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        CitizenAuthenticator(settings, keyring.pseudonym_secret)
    finally:
        quiet.setLevel(level)
    # the audit key follows the signing keys' rules (SPEC "Keys")
    audit_keys_for(settings)


@contextlib.contextmanager
def _shared_metrics(workers: int) -> Iterator[None]:
    """Several workers share their metrics through a folder made for this run and removed
    after it (`app.api.edge.metrics_share`); the workers find it in their environment."""
    if workers == 1:
        yield
        return
    folder = tempfile.mkdtemp(prefix="statuspass-metrics-")
    os.environ["STATUSPASS_METRICS_DIR"] = folder
    try:
        yield
    finally:
        os.environ.pop("STATUSPASS_METRICS_DIR", None)
        shutil.rmtree(folder, ignore_errors=True)


def resolve_server(server: str, workers: int) -> str:
    """`auto`: granian for one worker, uvicorn for several. granian runs the HTTP I/O of
    a worker on a Rust thread beside its Python thread: with one worker that is a second
    core's worth of work in parallel; with a worker per core the threads compete for the
    same cores and hand every request across (GIL handoffs, wake-ups), and uvicorn,
    with one socket per worker (`app/cli/workers.py`), did more per core."""
    if server != "auto":
        return server
    return "granian" if workers == 1 else "uvicorn"


def uvicorn_options(host: str, port: int) -> dict[str, Any]:
    """How uvicorn runs the service (`bench/_bare.py` runs its ceiling the same way)."""
    return {
        "factory": True,
        "host": host,
        "port": port,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": GRACE_S,
        "server_header": False,
        "proxy_headers": False,
        "loop": "auto",
        "http": "auto",
    }


def _uvicorn(args: argparse.Namespace) -> int:
    import uvicorn

    options = uvicorn_options(args.host, args.port)
    if args.workers == 1:
        uvicorn.run(TARGET, **options)
        return 0
    # several workers: each on its own SO_REUSEPORT socket (app/cli/workers.py says why)
    from app.cli.workers import Supervisor

    supervisor = Supervisor(
        partial(uvicorn_worker, TARGET, options),
        host=args.host,
        port=args.port,
        count=args.workers,
        grace_s=GRACE_S,
    )
    log.info("uvicorn on %s:%d, %d workers", args.host, supervisor.port, args.workers)
    return supervisor.run()


def uvicorn_worker(target: str, options: dict[str, Any], sock: socket.socket) -> None:
    """One worker process: uvicorn serving the app `target` on its own listening socket."""
    import uvicorn

    setup_logging()
    uvicorn.Server(uvicorn.Config(target, **options)).run(sockets=[sock])


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
