"""`app.tokens` is the partner's offline verifier: it must stand alone.

Imported in a fresh interpreter where every other `app` package is unimportable, the
whole core loads and verifies; a future import reaching back into the service fails here.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).parents[3]

_PROBE = textwrap.dedent(
    """
    import importlib.abc, pkgutil, sys

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.startswith("app.") and not name.startswith("app.tokens"):
                raise ImportError(f"app.tokens imported {name}")
            return None

    sys.meta_path.insert(0, Refuse())
    import app.tokens
    for info in pkgutil.walk_packages(app.tokens.__path__, "app.tokens."):
        __import__(info.name)
    loaded = sorted(m for m in sys.modules if m == "app" or m.startswith("app."))
    print(" ".join(loaded))
    """
)


def test_tokens_import_nothing_else_from_app() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.split()
    assert "app.tokens.verify" in loaded and "app.tokens.proof" in loaded
    assert all(m == "app" or m.startswith("app.tokens") for m in loaded), loaded


def test_the_probe_does_refuse_the_rest_of_app() -> None:
    # the guard itself works: the service's domain cannot be imported under it
    probe = _PROBE.replace("import app.tokens\n", "import app.domain.registry\n")
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode != 0 and "imported app.domain" in done.stderr
