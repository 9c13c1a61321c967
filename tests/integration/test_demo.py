"""`statuspass demo` as a newcomer uses it after the README's install: run it (twice),
then paste what it printed (issue 19, item 17)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from served import free_port, stop_group

#: the console script next to the test run's Python, as `pip install -e .` makes it
#: (.venv/bin/statuspass); the demo must print commands that call it the same way
SCRIPT = Path(sys.executable).parent / "statuspass"


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("STATUSPASS_")},
        "STATUSPASS_STORE_URL": f"sqlite:///{tmp_path}/sp.sqlite3",
        "STATUSPASS_KEYS_DIR": str(tmp_path / "keys"),
    }


def _demo(tmp_path: Path, port: int) -> str:
    out = subprocess.run(
        [str(SCRIPT), "demo", "--port", str(port)],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    return out.stdout


def _steps(printed: str) -> dict[int, list[str]]:
    """The indented shell lines under each numbered step, continuation lines joined."""
    steps: dict[int, list[str]] = {}
    current = None
    for line in printed.splitlines():
        if m := re.match(r"(\d)\. ", line):
            current = int(m.group(1))
            steps[current] = []
        elif line.startswith("   ") and current is not None:
            steps[current].append(line.strip())
    for n, lines in steps.items():
        joined = "\n".join(lines).replace("\\\n", " ")
        steps[n] = [x for x in joined.splitlines() if x and not x.startswith("#")]
    return steps


def _bash(tmp_path: Path, script: str) -> str:
    out = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,
        timeout=180,
        check=False,
    )
    assert "Traceback" not in out.stderr, out.stderr
    return out.stdout


def _sections(output: str) -> dict[str, str]:
    parts = re.split(r"^=== (\S+)$", output, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_the_demo_reruns_and_its_commands_work_as_printed(tmp_path: Path) -> None:
    assert SCRIPT.exists()
    port = free_port()
    first = _demo(tmp_path, port)
    printed = _demo(tmp_path, port)  # again: no duplicate clients, no conflict
    clients = json.loads(_bash(tmp_path, f"{SCRIPT} clients list --json"))
    active = sorted(c["name"] for c in clients if not c["revoked_at"])
    assert active == ["Demo authentic source", "Demo museum", "Demo police zone"]
    assert f"{SCRIPT} verify" in printed and " statuspass " not in printed
    steps = _steps(printed)
    assert steps[1] == [f"STATUSPASS_DEV_IDP=1 {SCRIPT} serve --port {port}"]
    assert '"qr": ["png", "svg"]' in printed
    assert '{"token": ' in printed and '{"code": ' in printed  # what the body takes

    server = subprocess.Popen(
        ["bash", "-c", steps[1][0]],
        env=_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and server.poll() is None
            time.sleep(0.1)
        script = "\n".join(
            f"echo; echo '=== {n}'\n" + "\n".join(steps[n]) for n in sorted(steps) if n != 1
        )
        out = _sections(_bash(tmp_path, script))
        assert '"social_tariff"' in out["2"]
        assert "QR code saved: proof.png, proof.svg" in out["2"]
        assert (tmp_path / "proof.png").read_bytes().startswith(b"\x89PNG")
        assert (tmp_path / "proof.svg").read_text().startswith("<svg")
        verified_online, rest = out["3"].strip().split("\n", 1)
        assert verified_online.startswith("VALID") and "J. PEETERS" in verified_online
        by_code, end = json.JSONDecoder().raw_decode(rest)  # curl prints no newline
        assert by_code["result"] == "valid"
        offline = rest[end:].strip()
        assert offline.startswith("VALID") and "status list" in offline
        assert json.loads(out["4"].strip())["result"] == "valid"
        assert out["5"].strip().splitlines()[-1].startswith("INVALID (revoked)"), out["5"]
        assert "Demo museum" in out["6"]
        # the keys of the first run were replaced
        old_museum = re.search(r"--api-key (\S+)", first)
        assert old_museum is not None
        r = httpx.post(
            f"{base}/v1/verify",
            headers={"Authorization": f"Bearer {old_museum.group(1)}"},
            json={"token": "x"},
            timeout=10,
        )
        assert r.status_code == 401
        # a third run undoes the revocation the walk-through made
        again = _steps(_demo(tmp_path, port))
        verify = next(c for c in again[3] if "verify --qr proof.png --online" in c)
        assert _bash(tmp_path, verify).startswith("VALID")
    finally:
        stop_group(server, signal.SIGTERM)
