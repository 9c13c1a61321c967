"""docs/verifier-sdk.md's snippet runs as printed, with only `app.tokens` importable.

The cache folder is what a partner would have fetched: issuer metadata, the JWKS and a
status list, written here from the service's own formats; the snippet then verifies a
valid proof, a revoked one and one of a type the counter may not check.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.domain.registry import load_registry
from app.tokens import (
    SigningKey,
    encode_proof,
    jwks_document,
    public_types,
    set_status,
    sign_status_list,
)
from tests.unit.tokens.test_self_contained import _PROBE

ROOT = Path(__file__).parents[3]
DOC = ROOT / "docs" / "verifier-sdk.md"
URI = "https://statuspass.example.org/v1/status-lists/1"


def snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text("utf-8"), re.DOTALL)
    assert len(blocks) == 1, "the page shows one runnable snippet"
    return blocks[0]


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    key = SigningKey.generate("ES256")
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / "jwks.json").write_text(json.dumps(jwks_document([key.public()])))
    metadata = {"entitlement_types": public_types(load_registry())}
    (folder / "statuspass.json").write_text(json.dumps(metadata))
    now = int(datetime.now(UTC).timestamp())
    packed = bytearray(2**20 // 4)
    set_status(packed, 9, 1)  # entry 9 revoked
    listed = sign_status_list(
        bytes(packed), uri=URI, key=key, iat=now - 60, exp=now + 3600, ttl=900
    )
    (folder / "status-list-1.jwt").write_text(listed)

    def proof(type_id: str, idx: int) -> str:
        return encode_proof(
            key,
            issuer="https://statuspass.example.org",
            iat=now - 10,
            exp=now + 290,
            jti="c2RrLXNuaXBwZXQtanRp",
            type_id=type_id,
            name="J. PEETERS",
            list_uri=URI,
            idx=idx,
            attributes={},
        )

    (tmp_path / "proofs.json").write_text(
        json.dumps(
            {
                "valid": proof("social_tariff", 3),
                "revoked": proof("social_tariff", 9),
                "out_of_scope": proof("large_family", 3),
            }
        )
    )
    return tmp_path


def run_snippet(workdir: Path, token: str) -> str:
    (workdir / "cache" / "scanned.txt").write_text(token)
    # the import guard of test_self_contained, then the page's code as printed
    program = _PROBE.split("import app.tokens\n")[0] + snippet()
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=workdir,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_snippet_verifies_offline_with_app_tokens_alone(cache: Path) -> None:
    proofs = json.loads((cache / "proofs.json").read_text())
    assert run_snippet(cache, proofs["valid"]) == "valid None J. PEETERS"
    assert run_snippet(cache, proofs["revoked"]) == "invalid revoked J. PEETERS"
    assert run_snippet(cache, proofs["out_of_scope"]) == "invalid not_permitted -"
