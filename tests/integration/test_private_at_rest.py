"""What the stores keep on disk is the service's own (issue 19, item 9).

* SQLite: the folder the store makes is 0700, the database, its WAL and its shared
  memory 0600, whatever the umask; a folder or file open to others is reported in
  development and refused in production.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import make_event

from app.errors import ConfigError
from app.storage import open_store


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which files came out 0644 and folders 0755."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


# -- SQLite files -----------------------------------------------------------------------
@pytest.mark.usefixtures("umask_022")
async def test_a_new_sqlite_store_is_private(tmp_path: Path) -> None:
    db = tmp_path / "var" / "statuspass.sqlite3"
    store = await open_store(f"sqlite:///{db}")
    try:
        await store.append_audit(make_event("key_rotate"))  # the WAL and -shm exist now
        files = {p.name: mode_of(p) for p in db.parent.iterdir()}
    finally:
        await store.close()
    assert mode_of(db.parent) == 0o700
    assert files == {
        "statuspass.sqlite3": 0o600,
        "statuspass.sqlite3-wal": 0o600,
        "statuspass.sqlite3-shm": 0o600,
    }


def _loose(tmp_path: Path, what: str) -> tuple[Path, Path]:
    """A store written by an older release: a 0755 folder, or a 0644 database file."""
    folder = tmp_path / "var"
    folder.mkdir(mode=0o700)
    db = folder / "statuspass.sqlite3"
    if what == "folder":
        folder.chmod(0o755)
        return db, folder
    db.touch(mode=0o644)
    db.chmod(0o644)
    return db, db


@pytest.mark.parametrize("what", ["folder", "file"])
async def test_a_store_open_to_others_is_reported_in_development(
    tmp_path: Path, what: str, caplog: pytest.LogCaptureFixture
) -> None:
    db, loose = _loose(tmp_path, what)
    with caplog.at_level(logging.WARNING, logger="statuspass.store"):
        store = await open_store(f"sqlite:///{db}")
        await store.close()
    wanted = "700" if what == "folder" else "600"
    assert any(
        f"chmod {wanted} {loose}" in r.getMessage() and r.levelno == logging.WARNING
        for r in caplog.records
    ), caplog.text
    assert mode_of(loose) & 0o077  # not changed behind the operator's back


@pytest.mark.parametrize("what", ["folder", "file"])
async def test_a_store_open_to_others_is_refused_in_production(tmp_path: Path, what: str) -> None:
    db, loose = _loose(tmp_path, what)
    wanted = "700" if what == "folder" else "600"
    with pytest.raises(ConfigError, match=re.escape(f"chmod {wanted} {loose}")):
        await open_store(f"sqlite:///{db}", production=True)
    # a private one opens in production too
    loose.chmod(0o700 if what == "folder" else 0o600)
    store = await open_store(f"sqlite:///{db}", production=True)
    await store.close()
