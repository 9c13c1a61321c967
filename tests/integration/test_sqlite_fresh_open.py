"""Several workers opening a fresh SQLite file at the same moment all start.

Regression: switching a new file to WAL raced between processes and one of them died
with "database is locked" (seen in CI and reproduced with 8 processes, 1 in 20 rounds).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

OPEN = """
import asyncio, sys
from app.storage import open_store
async def main():
    store = await open_store("sqlite:///" + sys.argv[1])
    await store.ping()
    await store.close()
asyncio.run(main())
"""


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(4))
def test_eight_workers_open_a_fresh_file_at_once(tmp_path: Path, round_: int) -> None:
    db = tmp_path / f"fresh-{round_}.sqlite3"
    procs = [
        subprocess.Popen([sys.executable, "-c", OPEN, str(db)], stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    failures = []
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            failures.append(err[-500:])
    assert failures == []
