"""The folder tree is the architecture: who may import whom, checked on the source.

* A store backend is chosen in `app/storage/__init__.py` only: nothing outside
  `app/storage/` imports a backend's module (`app.storage.sqlite…`, `app.storage.redis…`)
  or the storage helpers, only the package itself.
* The domain knows no edge: `app/domain/` imports nothing from the API, the CLI, the web
  apps or the stores (it has its ports).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).parents[2] / "app"


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (lazy imports inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules_under(folder: str) -> list[Path]:
    return sorted((APP / folder).rglob("*.py"))


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(APP.rglob("*.py")) if "storage" not in p.relative_to(APP).parts],
    ids=lambda p: str(p.relative_to(APP)),
)
def test_only_the_storage_package_is_imported_outside_it(path: Path) -> None:
    leaks = sorted(m for m in imports(path) if m.startswith("app.storage."))
    # `from app.storage import open_store` shows up as "app.storage.open_store": names
    # the package exports are fine, modules below it are not
    import app.storage

    leaks = [m for m in leaks if m.removeprefix("app.storage.") not in app.storage.__all__]
    assert not leaks, f"{path.name} reaches into a store backend: {leaks}"


@pytest.mark.parametrize("path", modules_under("domain"), ids=lambda p: p.name)
def test_the_domain_imports_no_edge(path: Path) -> None:
    edge = ("app.api", "app.cli", "app.web", "app.storage")
    assert not sorted(m for m in imports(path) if m.startswith(edge))
