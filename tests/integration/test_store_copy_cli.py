"""`statuspass store copy` as an operator runs it: a mistyped source is refused and
creates nothing, a failed copy leaves no destination behind, and progress is readable
in a terminal and in a log (issue 19, item 15)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from app.cli.store_copy import Progress
from app.storage.copy import SqliteCopier


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("STATUSPASS_")},
        "STATUSPASS_STORE_URL": f"sqlite:///{tmp_path}/sp.sqlite3",
        "STATUSPASS_KEYS_DIR": str(tmp_path / "keys"),
    }


def _statuspass(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_a_missing_sqlite_source_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    before = _tree(tmp_path)
    out = _statuspass(
        tmp_path,
        "store",
        "copy",
        f"sqlite:///{tmp_path}/typo/statuspass.sqlite3",
        f"sqlite:///{tmp_path}/moved/statuspass.sqlite3",
    )
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    [line] = out.stderr.strip().splitlines()
    assert f"no SQLite database at {tmp_path}/typo/statuspass.sqlite3" in line
    assert _tree(tmp_path) == before


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    out = _statuspass(tmp_path, "demo")
    assert out.returncode == 0, out.stderr
    return tmp_path


def test_a_failed_copy_removes_the_destination_it_created(
    seeded: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def disk_full(self: SqliteCopier, batch: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(SqliteCopier, "put_audit", disk_full)
    before = _tree(seeded)
    code = main(
        [
            "store",
            "copy",
            f"sqlite:///{seeded}/sp.sqlite3",
            f"sqlite:///{seeded}/new/folder/copy.sqlite3",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "No space left on device" in err and "Traceback" not in err
    assert "was removed" in err
    assert _tree(seeded) == before  # no copy.sqlite3(-wal, -shm), no new/folder


def test_a_refused_copy_leaves_an_existing_destination_alone(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not empty: refused, and the file, which the copy did not create, stays."""
    source = f"sqlite:///{seeded}/sp.sqlite3"
    code = main(["store", "copy", source, source])
    assert code == 2
    assert "not empty" in capsys.readouterr().err
    assert (seeded / "sp.sqlite3").stat().st_size > 0


def test_progress_in_a_log_is_one_line_per_update(seeded: Path) -> None:
    out = _statuspass(
        seeded, "store", "copy", f"sqlite:///{seeded}/sp.sqlite3", f"sqlite:///{seeded}/b.sqlite3"
    )
    assert out.returncode == 0, out.stderr
    assert "\r" not in out.stderr
    entitlements = next(x for x in out.stderr.splitlines() if x.strip().startswith("entitl"))
    assert "7 of" in entitlements and "100.0%" in entitlements


def test_progress_shows_total_percentage_and_eta() -> None:
    log = io.StringIO()
    progress = Progress(log, tty=False, every_s=0)
    progress.show("entitlements", 500, 2_000)
    progress.show("entitlements", 1_000, 2_000)
    progress.show("entitlements", 2_000, 2_000, final=True)
    progress.show("proofs", 40)  # a count the source cannot know in advance
    lines = log.getvalue().splitlines()
    assert len(lines) == 4 and "\r" not in log.getvalue()
    assert "500 of        2,000  25.0%  ETA 0:00:0" in lines[0]
    assert "100.0%" in lines[2] and "ETA" not in lines[2]
    assert " of " not in lines[3] and "/s" in lines[3]
    terminal = io.StringIO()
    Progress(terminal, tty=True).show("audit", 10, 20, final=True)
    assert terminal.getvalue().startswith("\r") and terminal.getvalue().endswith("\n")
