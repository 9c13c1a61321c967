"""The address `serve` listens on: one service per port, and the issuer it implies.

Both servers bind their listening sockets with SO_REUSEPORT (uvicorn's workers each
their own, `app.cli.workers`; granian too), so that the workers of *one* service share a
port. Linux then lets any process of the same user join that port: a second
`statuspass serve`, perhaps an old one with old keys, would silently take part of the
traffic. So before any server starts, `claim` makes sure the address is free:

* it binds a probe socket *without* SO_REUSEPORT. The kernel refuses that bind while
  any socket listens on the port, shared or not, so a running service (or any other
  program) is found. SO_REUSEADDR stays on, so that the connections a service that just
  stopped left in TIME_WAIT do not keep it from starting again;
* it holds a lock for the life of the service: an abstract Unix socket named after the
  address (Linux; released by the kernel however the process ends, nothing to clean up).
  Two services started at the same moment both pass the probe before either listens;
  the lock lets only one of them go on.
"""

from __future__ import annotations

import errno
import socket
import sys

from app.cli.errors import UserError

__all__ = ["PortClaim", "claim", "served_issuer"]


class PortClaim:
    """The claim on `host:port` (the port resolved when 0 was asked), held until closed."""

    def __init__(self, host: str, port: int, lock: socket.socket | None) -> None:
        self.host, self.port = host, port
        self._lock = lock

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def _in_use(host: str, port: int) -> UserError:
    return UserError(
        f"{host}:{port} is already in use (another statuspass serve, or another program, "
        "listens there): stop it or choose another --port"
    )


def claim(host: str, port: int) -> PortClaim:
    """Refuse an address another process listens on; resolve port 0.

    Raises:
        UserError: the address is in use, or cannot be bound here (not a local address,
            a privileged port).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise _in_use(host, port) from None
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        except (OverflowError, socket.gaierror) as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc}") from None
        port = probe.getsockname()[1]
    return PortClaim(host, port, _lock(host, port))


def _lock(host: str, port: int) -> socket.socket | None:
    if not sys.platform.startswith("linux"):
        return None  # abstract sockets are Linux's; elsewhere the probe alone decides
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lock.bind(f"\0statuspass-serve:{host}:{port}")
    except OSError as exc:
        lock.close()
        if exc.errno == errno.EADDRINUSE:
            raise _in_use(host, port) from None
        return None
    return lock


def served_issuer(host: str, port: int) -> str:
    """The URL of the address served, as a client on this machine reaches it: a wildcard
    address (all interfaces) is reached at the loopback address."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - naming the wildcard, not binding it
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"
