"""The `store` fixture: every contract test runs once per backend in `params`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.domain.ports import Store
from app.storage import open_store


@pytest.fixture(params=["sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh, empty store of the backend named by the parameter, closed afterwards."""
    backend: str = request.param
    if backend == "sqlite":
        opened = await open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    else:
        raise AssertionError(f"unknown store backend {backend!r}")
    try:
        yield opened
    finally:
        await opened.close()
