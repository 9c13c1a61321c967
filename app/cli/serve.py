"""`statuspass serve`: keys checked once in the parent, then N workers.

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

from app.auditkeys import ensure_audit_key
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
        choices=["auto", "granian", "uvicorn"],
        default="auto",
        help="ASGI server. auto (the default): granian for one worker, uvicorn for several"
        " (each the faster there, measured: docs/performance.md, 'Servers')",
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
    ensure_audit_key(
        settings.keys_dir,
        name=settings.audit_log_origin,
        production=settings.production,
        passphrase=settings.keys_passphrase,
    )
    if settings.store_url.startswith("sqlite:"):
        log.info("store: embedded SQLite (%s)", settings.store_url.removeprefix("sqlite:///"))
    if args.workers < 1:
        raise SystemExit("--workers must be at least 1")
    with _shared_metrics(args.workers):
        if resolve_server(args.server, args.workers) == "granian":
            _granian(args)
            return 0
        return _uvicorn(args)


@contextlib.contextmanager
def _shared_metrics(workers: int) -> Iterator[None]:
    """Several workers share their metrics through a folder made for this run and removed
    after it (`app.api.metrics_share`); the workers find it in their environment."""
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
