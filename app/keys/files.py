"""Key files on disk: private from the first byte, checked on every load, changed under a lock.

Shared by the proof-signing key ring (`app.keys.ring`) and the audit keys
(`app.keys.audit`): both live under `STATUSPASS_KEYS_DIR` by the same rules.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from app.errors import ConfigError

__all__ = ["check_private_file", "locked_keys_dir", "write_private"]


def check_private_file(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{path} is readable or writable by others (mode {mode:o}); run: chmod 600 {path}"
        )


def write_private(path: Path, data: bytes) -> None:
    """Write atomically with mode 0600 from the first byte, then fsync file and folder."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def locked_keys_dir(keys_dir: Path) -> Iterator[None]:
    """Serialise key changes between processes (several workers may start at once)."""
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(keys_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
