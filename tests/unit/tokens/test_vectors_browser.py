"""The browser's verifier core (web/src/common/core/) against the same vectors as the
Python verifier, under node's test runner: one set of rules for both."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[3]


def test_the_browser_core_gives_every_vector_its_expected_verdict() -> None:
    node = shutil.which("node")
    assert node, "node is needed for the browser verifier's vectors"
    out = subprocess.run(
        [node, "--test", "--test-reporter=tap", "web/test/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    vectors = json.loads((ROOT / "tests" / "vectors" / "tokens.json").read_text("utf-8"))
    cases = vectors["valid"] + vectors["invalid"] + vectors["undetermined"]
    failed = re.findall(r"^not ok \d+ - (.+)$", out.stdout, re.MULTILINE)
    assert out.returncode == 0 and not failed, f"{failed}\n{out.stdout[-3000:]}{out.stderr}"
    passed = set(re.findall(r"^ok \d+ - (.+)$", out.stdout, re.MULTILINE))
    assert {c["name"] for c in cases} <= passed
