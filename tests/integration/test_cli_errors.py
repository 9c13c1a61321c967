"""The command line as a user meets it: the service's own QR images read back, offline
answers that say what happened, and every user error one line with exit code 2, never a
traceback (issue 19, items 16, 18 and 19)."""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from served import Service, grant_body

from app.cli import build_parser
from app.tokens import generate_nrn

ROOT = Path(__file__).resolve().parents[2]


class Proof:
    def __init__(self, svc: Service, folder: Path, museum: str, body: dict[str, str]) -> None:
        self.svc, self.folder, self.museum = svc, folder, museum
        self.token = body["token"]
        self.code = body["code"]
        self.png = folder / "proof.png"
        self.svg = folder / "proof.svg"
        self.png.write_bytes(base64.b64decode(body["qr_png_base64"]))
        self.svg.write_text(body["qr_svg"], encoding="utf-8")
        self.jwks_url = f"{svc.url}/.well-known/jwks.json"


@pytest.fixture(scope="module")
def proof(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proof]:
    folder = tmp_path_factory.mktemp("cli-errors")
    svc = Service(folder, f"sqlite:///{folder}/sp.sqlite3")
    source = svc.add_client("source")
    museum = svc.add_client("verifier", "Museum")
    nrn = generate_nrn(random.Random(1916))
    citizen = svc.citizen_token(nrn)
    svc.start()
    try:
        with httpx.Client(base_url=svc.url, timeout=30) as http:
            http.put(
                "/v1/entitlements/social_tariff",
                headers={"Authorization": f"Bearer {source}"},
                json=grant_body(nrn),
            ).raise_for_status()
            body = http.post(
                "/v1/me/proofs",
                headers={"Authorization": f"Bearer {citizen}"},
                json={"type": "social_tariff", "qr": ["png", "svg"]},
            ).json()
        yield Proof(svc, folder, museum, body)
    finally:
        svc.kill()


def statuspass(proof: Proof, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        env=proof.svc.env,
        cwd=proof.folder,
        timeout=60,
        check=False,
    )


def one_line_exit_2(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: nothing listens there


@pytest.mark.parametrize("image", ["png", "svg"])
def test_verify_reads_the_services_own_qr_images(proof: Proof, image: str) -> None:
    """The PNG and the SVG the service drew decode to the proof, offline and online; the
    status list fetched a moment ago is reported seconds old, not an hour."""
    path = str(proof.png if image == "png" else proof.svg)
    out = statuspass(proof, "verify", "--qr", path, "--jwks", proof.jwks_url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("VALID") and "J. PEETERS" in out.stdout
    age = re.search(r"status list \((\d+) s old\)", out.stdout)
    assert age is not None, out.stdout
    assert int(age.group(1)) < 120  # the publisher rebuilds every ttl/4 = 75 s at most
    online = statuspass(
        proof, "verify", "--qr", path, "--online", proof.svc.url, "--api-key", proof.museum
    )
    assert online.returncode == 0 and online.stdout.startswith("VALID"), online.stderr


def test_offline_without_a_status_list_says_so(proof: Proof) -> None:
    """Keys from a file: nothing tells where a list would come from. The answer stays
    undetermined, and the user is told the cause rather than "stale"."""
    jwks = proof.folder / "jwks.json"
    jwks.write_bytes(httpx.get(proof.jwks_url, timeout=10).content)
    out = statuspass(proof, "verify", proof.token, "--jwks", str(jwks))
    assert out.returncode == 1, out.stderr
    assert out.stdout.startswith("UNDETERMINED (no status list given")
    assert "stale" not in out.stdout
    as_json = statuspass(proof, "verify", proof.token, "--jwks", str(jwks), "--json")
    result = json.loads(as_json.stdout)
    assert (result["result"], result["reason"]) == ("undetermined", "stale_status_list")
    assert "no status list given" in as_json.stderr
    (proof.folder / "bad.jwt").write_text("not a status list", encoding="utf-8")
    bad = statuspass(proof, "verify", proof.token, "--jwks", str(jwks), "--status-list", "bad.jwt")
    assert bad.returncode == 1, bad.stderr
    assert bad.stdout.startswith("UNDETERMINED (the status list from bad.jwt was refused")


def test_user_errors_are_one_line_and_exit_2(proof: Proof) -> None:
    folder = proof.folder
    (folder / "notes.txt").write_text("not an image", encoding="utf-8")
    Image.new("L", (64, 64), 255).save(folder / "blank.png")
    (folder / "circle.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 29 29">'
        '<circle cx="5" cy="5" r="4"/></svg>',
        encoding="utf-8",
    )
    port = closed_port()
    refused = f"http://127.0.0.1:{port}"
    cases: list[tuple[list[str], list[str]]] = [
        (["verify", "--qr", "missing.png", "--jwks", proof.jwks_url], ["missing.png"]),
        (["verify", "--qr", "notes.txt", "--jwks", proof.jwks_url], ["notes.txt"]),
        (["verify", "--qr", "blank.png", "--jwks", proof.jwks_url], ["no QR code", "blank.png"]),
        (["verify", "--qr", "circle.svg", "--jwks", proof.jwks_url], ["circle.svg", "PNG"]),
        (["verify", proof.token, "--jwks", "missing.json"], ["missing.json"]),
        (
            ["verify", proof.token, "--jwks", f"{refused}/.well-known/jwks.json"],
            [f"{refused}/.well-known/jwks.json", "refused"],
        ),
        (
            ["verify", proof.token, "--online", refused, "--api-key", "sp_x"],
            [f"{refused}/v1/verify", "refused"],
        ),
        (["verify", proof.token, "--online", proof.svc.url], ["--api-key"]),
        (["verify", proof.token], ["--jwks"]),
        (["clients", "revoke", "c_nobody"], ["c_nobody"]),
        (["dev", "citizen-token", "00000000097", "--issuer", "ftp://x"], ["--issuer"]),
    ]
    for args, words in cases:
        line = one_line_exit_2(statuspass(proof, *args))
        for word in words:
            assert word in line, (args, line)


def test_a_refused_answer_names_the_url(proof: Proof) -> None:
    out = statuspass(
        proof, "verify", proof.token, "--online", proof.svc.url, "--api-key", "sp_wrong"
    )
    line = one_line_exit_2(out)
    assert f"{proof.svc.url}/v1/verify answered 401" in line


def _options(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _options(child, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            yield f"{path} {'/'.join(action.option_strings) or action.dest}", action


def test_every_option_has_help_and_says_its_unit() -> None:
    options = dict(_options(build_parser(), "statuspass"))
    missing = [name for name, action in options.items() if not (action.help or "").strip()]
    assert not missing
    units = {
        "statuspass serve --port": "port",
        "statuspass serve --workers": "processes",
        "statuspass verify --keys-max-age": "seconds",
        "statuspass dev citizen-token --lifetime": "seconds",
    }
    for name, unit in units.items():
        assert unit in str(options[name].help), name


def test_clients_list_has_a_header(proof: Proof) -> None:
    out = statuspass(proof, "clients", "list")
    assert out.returncode == 0, out.stderr
    header, *rows = out.stdout.splitlines()
    assert header.split() == ["ID", "ROLE", "STATE", "NAME", "[TYPES]"]
    assert any("Museum" in row for row in rows)


def test_qr_reading_is_installed_with_the_package() -> None:
    """`statuspass verify --qr` is a documented command: what it needs comes with the
    package (`pip install -e .`, the README's install), not with an extra nobody names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {re.split(r"[<>=\[ ;]", d)[0].lower() for d in project["dependencies"]}
    assert {"zxing-cpp", "pillow"} <= runtime
    extras = project.get("optional-dependencies", {})
    assert "qr-decode" not in extras
    assert "qr-decode" not in (ROOT / "README.md").read_text(encoding="utf-8")
