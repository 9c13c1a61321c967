"""uvicorn workers that each listen on their own socket (SO_REUSEPORT).

uvicorn's own multi-worker mode hands one listening socket to every worker, and the
worker that wakes first accepts whatever is queued. Connections are long-lived here
(keep-alive from counters, proxies and load generators), so a burst of them opened at
once can all land on one worker and stay there: in `bench/stores.py`, 32 connections
once left one of two workers idle (0.99 of 2 cores busy). With SO_REUSEPORT each worker
has its own socket on the same port and the kernel spreads new connections over them
by their addresses.

The parent binds the port first (without listening, so it never receives a connection):
a port in use fails here, once, and port 0 is resolved to the one port every worker
joins. It then starts the workers (spawned, not forked), restarts one that dies, and on
SIGTERM or SIGINT passes SIGTERM on and waits for each worker's graceful shutdown
(`grace_s`, then SIGKILL). A worker that fails during start-up (bad config, store
unreachable) stops the whole service instead of restarting forever.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess

log = logging.getLogger("statuspass")

#: uvicorn's exit code for a worker whose start-up failed
STARTUP_FAILURE = 3
_POLL_S = 0.5
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def reuseport_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _die_with_parent(parent: int) -> None:
    """SIGTERM this worker when the parent dies, however it dies (Linux). Otherwise a
    parent killed with SIGKILL would leave its workers serving, and a service started
    again on the port would share it with them: SO_REUSEPORT lets both listen."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent's own shutdown still applies
        return
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


def _worker(
    target: Callable[[socket.socket], None], host: str, port: int, backlog: int, parent: int
) -> None:
    _die_with_parent(parent)
    sock = reuseport_socket(host, port)
    sock.listen(backlog)
    target(sock)


class Supervisor:
    """Runs `target(listening_socket)` in `count` spawned processes until signalled."""

    def __init__(
        self,
        target: Callable[[socket.socket], None],
        *,
        host: str,
        port: int,
        count: int,
        grace_s: float,
        backlog: int = 2048,
    ) -> None:
        self._target = target
        self._host = host
        self._count = count
        self._grace_s = grace_s
        self._backlog = backlog
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = threading.Event()
        self._holder = reuseport_socket(host, port)  # reserves the port; never listens
        self.port: int = self._holder.getsockname()[1]
        self._procs: list[BaseProcess] = []

    def _start_one(self) -> BaseProcess:
        proc = self._ctx.Process(
            target=_worker,
            args=(self._target, self._host, self.port, self._backlog, os.getpid()),
            name="statuspass-worker",
        )
        proc.start()
        log.info("worker %s started", proc.pid)
        return proc

    def run(self) -> int:
        previous = {
            sig: signal.signal(sig, lambda *_: self._stop.set())
            for sig in (signal.SIGTERM, signal.SIGINT)
        }
        code = 0
        try:
            self._procs = [self._start_one() for _ in range(self._count)]
            while not self._stop.wait(_POLL_S):
                code = self._replace_dead()
                if code:
                    break
        finally:
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._holder.close()
        return code

    def _replace_dead(self) -> int:
        for i, proc in enumerate(self._procs):
            if proc.is_alive():
                continue
            proc.join()
            if proc.exitcode == STARTUP_FAILURE:
                log.error("worker %s failed to start: stopping", proc.pid)
                return STARTUP_FAILURE
            log.warning("worker %s exited with %s: starting another", proc.pid, proc.exitcode)
            self._procs[i] = self._start_one()
        return 0

    def _shutdown(self) -> None:
        for proc in self._procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in self._procs:
            proc.join(self._grace_s + 5)
            if proc.is_alive():
                log.error("worker %s did not stop in time: killed", proc.pid)
                proc.kill()
                proc.join()
