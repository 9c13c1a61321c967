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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from app.errors import ConfigError

__all__ = [
    "check_private_file",
    "locked_keys_dir",
    "only_active",
    "read_private_key",
    "write_private",
    "write_private_key",
]


class _Entry(Protocol):
    @property
    def state(self) -> str: ...


E = TypeVar("E", bound=_Entry)


def only_active(root: Path, entries: Sequence[E], what: str) -> E:
    """The one active entry of a key list; ConfigError naming `what` was expected else."""
    active = [e for e in entries if e.state == "active"]
    if len(active) != 1:
        raise ConfigError(f"{root}: expected {what}, found {len(active)}")
    return active[0]


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


def read_private_key(path: Path, passphrase: str | None) -> PrivateKeyTypes:
    """The PEM private key in `path`, whose mode is checked first (`check_private_file`).

    Raises:
        ConfigError: readable by others, not a private key, or the wrong passphrase.
    """
    check_private_file(path)
    try:
        return serialization.load_pem_private_key(
            path.read_bytes(), password=passphrase.encode() if passphrase else None
        )
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is not a readable private key: {exc}") from exc


def write_private_key(path: Path, key: PrivateKeyTypes, passphrase: str | None) -> None:
    """`key` as PKCS#8 PEM, encrypted with `passphrase` when one is set (`write_private`)."""
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    write_private(path, pem)


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
