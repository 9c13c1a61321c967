"""The operator's command line, run as the operator runs it (separate processes)."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.tokens import generate_nrn


def run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STATUSPASS_")},
        "STATUSPASS_STORE_URL": f"sqlite:///{tmp_path}/sp.sqlite3",
        "STATUSPASS_KEYS_DIR": str(tmp_path / "keys"),
        **(env or {}),
    }
    out = subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    if check:
        assert out.returncode == 0, out.stderr
    return out


def test_one_key_per_counter_each_revoked_on_its_own(tmp_path: Path) -> None:
    first = json.loads(
        run(
            tmp_path,
            "clients", "add", "--name", "Museum", "--role", "verifier",
            "--types", "social_tariff", "--label", "Counter 1", "--json",
        ).stdout
    )  # fmt: skip
    second = json.loads(
        run(tmp_path, "clients", "add-key", first["id"], "--label", "Counter 2", "--json").stdout
    )
    assert second["api_key"] != first["api_key"] and second["id"] != first["id"]
    assert (second["name"], second["role"], second["types"]) == (
        "Museum",
        "verifier",
        ["social_tariff"],
    )
    assert second["org"] == first["org"] == first["id"]
    listing = run(tmp_path, "clients", "list").stdout
    assert "Museum — Counter 2" in listing and f"(org {first['id']})" in listing
    run(tmp_path, "clients", "revoke", second["id"])
    rows = {c["id"]: c for c in json.loads(run(tmp_path, "clients", "list", "--json").stdout)}
    assert rows[second["id"]]["revoked_at"] and not rows[first["id"]]["revoked_at"]
    # a revoked key is no parent of a new one: one line, no traceback
    bad = run(tmp_path, "clients", "add-key", second["id"], check=False)
    assert bad.returncode != 0 and "no active client" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_clients_add_list_revoke(tmp_path: Path) -> None:
    out = run(
        tmp_path,
        "clients",
        "add",
        "--name",
        "CPAS Gent",
        "--role",
        "source",
        "--types",
        "living_wage,social_tariff",
        "--json",
    )
    client = json.loads(out.stdout)
    assert client["api_key"].startswith("sp_") and len(client["api_key"]) > 40
    assert client["types"] == ["living_wage", "social_tariff"]
    listed = json.loads(run(tmp_path, "clients", "list", "--json").stdout)
    assert [c["id"] for c in listed] == [client["id"]]
    assert client["api_key"] not in run(tmp_path, "clients", "list").stdout
    run(tmp_path, "clients", "revoke", client["id"])
    assert json.loads(run(tmp_path, "clients", "list", "--json").stdout)[0]["revoked_at"]
    bad = run(
        tmp_path,
        "clients",
        "add",
        "--name",
        "X",
        "--role",
        "source",
        "--types",
        "free_beer",
        check=False,
    )
    assert bad.returncode != 0 and "free_beer" in bad.stderr and "Traceback" not in bad.stderr


def test_demo_seeds_and_prints_commands_then_audit_verifies(tmp_path: Path) -> None:
    out = run(tmp_path, "demo")
    assert "curl" in out.stdout and "/v1/verify" in out.stdout
    # called as `python -m app`, the demo prints commands that call it that way
    assert f"{sys.executable} -m app dev citizen-token" in out.stdout
    report = run(tmp_path, "audit", "verify")
    assert report.stdout.startswith("OK:")
    exported = run(tmp_path, "audit", "export").stdout.splitlines()
    assert len(exported) >= 8
    records = [json.loads(line) for line in exported]
    assert all("hash" in r and "prev" in r for r in records)
    text = "\n".join(exported)
    assert "Peeters" not in text and "PEETERS" not in text  # no names in the audit


@pytest.mark.parametrize("tamper", ["edit", "delete", "swap"])
def test_audit_verify_detects_tampering(tmp_path: Path, tamper: str) -> None:
    run(tmp_path, "demo")
    db = sqlite3.connect(tmp_path / "sp.sqlite3")
    with db:
        table = db.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE 'audit%' AND type='table'"
        ).fetchone()[0]
        cols = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
        seq_col = "seq" if "seq" in cols else cols[0]
        blob_col = next(c for c in cols if c in ("event", "event_json", "data", "body"))
        if tamper == "edit":
            raw = db.execute(f"SELECT {blob_col} FROM {table} WHERE {seq_col}=3").fetchone()[0]
            edited = (
                # the result "ok" as JSON, or as a MessagePack string (the stored form)
                raw.replace(b'"result":"ok"', b'"result":"no"').replace(b"\xa2ok", b"\xa2no")
                if isinstance(raw, bytes)
                else raw.replace('"result":"ok"', '"result":"no"')
            )
            if edited == raw:
                edited = (
                    raw.replace(b"grant", b"GRANT")
                    if isinstance(raw, bytes)
                    else raw.replace("grant", "GRANT")
                )
            db.execute(f"UPDATE {table} SET {blob_col}=? WHERE {seq_col}=3", (edited,))
        elif tamper == "delete":
            db.execute(f"DELETE FROM {table} WHERE {seq_col}=4")
        else:
            a = db.execute(f"SELECT {blob_col} FROM {table} WHERE {seq_col}=4").fetchone()[0]
            b = db.execute(f"SELECT {blob_col} FROM {table} WHERE {seq_col}=5").fetchone()[0]
            db.execute(f"UPDATE {table} SET {blob_col}=? WHERE {seq_col}=4", (b,))
            db.execute(f"UPDATE {table} SET {blob_col}=? WHERE {seq_col}=5", (a,))
    db.close()
    out = run(tmp_path, "audit", "verify", check=False)
    assert out.returncode == 1 and out.stdout.startswith("BROKEN")


def test_keys_commands(tmp_path: Path) -> None:
    gen = run(tmp_path, "keys", "generate")
    kid = gen.stdout.split()[3]
    again = run(tmp_path, "keys", "generate", check=False)
    assert again.returncode == 2 and "rotate" in again.stderr
    rot = run(tmp_path, "keys", "rotate")
    listing = run(tmp_path, "keys", "list").stdout
    assert kid in listing and "retired" in listing and "active" in listing
    run(tmp_path, "keys", "retire", kid)
    assert "withdrawn" in run(tmp_path, "keys", "list").stdout
    assert "rotated" in rot.stdout
    actions = [
        json.loads(x)["event"]["action"]
        for x in run(tmp_path, "audit", "export").stdout.splitlines()
    ]
    # the first `keys generate` also makes the audit key, an audited key operation too
    assert actions == ["key_generate", "audit_key_generate", "key_rotate", "key_retire"]


def test_production_refuses_without_keys_and_dev_idp(tmp_path: Path) -> None:
    out = run(tmp_path, "serve", "--port", "1", env={"STATUSPASS_ENV": "production"}, check=False)
    assert out.returncode == 2 and "refusing to invent keys" in out.stderr
    out = run(
        tmp_path,
        "dev",
        "citizen-token",
        generate_nrn(random.Random(5)),
        env={"STATUSPASS_ENV": "production"},
        check=False,
    )
    assert out.returncode != 0
    out = run(
        tmp_path,
        "clients",
        "list",
        env={"STATUSPASS_ENV": "production", "STATUSPASS_DEV_IDP": "1"},
        check=False,
    )
    assert out.returncode == 2 and "DEV_IDP" in out.stderr
