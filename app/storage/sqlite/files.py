"""The SQLite store's files on disk: readable by the service's own user only.

The database holds who has which right (names, validity, the audit of every check), so
its folder is created 0700 and its file 0600 before SQLite opens it; SQLite creates the
WAL and shared-memory files (`-wal`, `-shm`) with the database file's mode, so they
are 0600 too, whatever the umask.

A folder or file that exists already with access for other users (made by hand, or by
a release before this one: 0755 and 0644 were the defaults) is not changed behind the
operator's back: in development the service says so and goes on, in production it
refuses to start with the `chmod` that fixes it (SPEC: production turns every "warn
and go on" into "refuse to start").
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from app.errors import ConfigError

__all__ = ["SIDE_FILES", "prepare_private_files"]

log = logging.getLogger("statuspass.store")

#: the files SQLite keeps beside the database in WAL mode
SIDE_FILES = ("-wal", "-shm")


def prepare_private_files(path: str, *, production: bool) -> None:
    """Create the database's folder (0700) and file (0600) if missing; check their modes.

    Args:
        path: the database file.
        production: refuse (rather than warn about) a folder or file open to others.

    Raises:
        ConfigError: in production, when the folder, the database or one of its side
            files gives any access to other users.
    """
    db = Path(path)
    folder = db.parent
    if not folder.exists():
        # intermediate folders get the default mode; the store's own folder is private
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass  # an existing store (or another worker made it just now): checked below
    else:
        os.close(fd)  # an empty file is an empty SQLite database
    _check(folder, 0o700, production)
    for file in (db, *(db.with_name(db.name + suffix) for suffix in SIDE_FILES)):
        _check(file, 0o600, production)


def _check(path: Path, wanted: int, production: bool) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return  # a side file SQLite has not made (yet): it will take the database's mode
    if not mode & 0o077:
        return
    what = "folder" if path.is_dir() else "file"
    message = (
        f"the SQLite store's {what} {path} is open to other users (mode {mode:o}); "
        f"it holds personal data: chmod {wanted:o} {path}"
    )
    if production:
        raise ConfigError(message)
    log.warning("%s", message)
