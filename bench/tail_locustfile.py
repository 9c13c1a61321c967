"""Locust users of `bench/tail.py`: verifiers posting the ceiling's tokens to one path.

The same traffic model as `loadtests/locustfile.py`'s counters (one request at a time,
then a think time), against `bench/_bare.py`. Environment: `TAIL_TOKENS` (a JSON list of
tokens), `TAIL_PATH` (`/verify` or `/verify-store`), `TAIL_WAIT_MIN`, `TAIL_WAIT_MAX`.
"""

from __future__ import annotations

import gc
import json
import os
import random
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from locust import FastHttpUser, between, events, task

TOKENS: list[str] = json.loads(Path(os.environ["TAIL_TOKENS"]).read_text())
PATH = os.environ["TAIL_PATH"]
WAIT = (
    float(os.environ.get("TAIL_WAIT_MIN", "0.1")),
    float(os.environ.get("TAIL_WAIT_MAX", "0.5")),
)


@events.init.add_listener
def _loopback_only(environment: Any, **_: Any) -> None:
    host = urlsplit(environment.host or "").hostname
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit(f"refusing to load {environment.host}: loopback targets only")


@events.test_start.add_listener
def _quiet_collector(**_: Any) -> None:
    # as in loadtests/locustfile.py: Locust's own GC pauses would count as latency
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)


class Verifier(FastHttpUser):
    wait_time = between(*WAIT)

    @task
    def verify(self) -> None:
        token = random.choice(TOKENS)
        with self.client.post(PATH, json={"token": token}, name=PATH, catch_response=True) as r:
            if r.status_code != 200 or b'"valid":true' not in (r.content or b""):
                r.failure(f"HTTP {r.status_code}: {(r.text or '')[:200]}")
            else:
                r.success()
