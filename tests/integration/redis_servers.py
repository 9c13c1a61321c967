"""Real redis-server processes for the tests: started on free loopback ports in a temp
dir, stopped by PID (never by name: other Redis servers on this machine are not ours).

    server = RedisServer.start(tmp_dir)          # appendonly yes, appendfsync always
    cluster = RedisClusterProcs.start(tmp_dir)   # 3 masters, no replicas
    ...
    server.stop(); cluster.stop()

Every PID started is also registered with `atexit`, so an interrupted session leaves no
server behind.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

REDIS_SERVER = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")
REDIS_CLI = os.environ.get("REDIS_CLI", "/usr/bin/redis-cli")

_started: set[int] = set()


def _kill_leftovers() -> None:
    for pid in list(_started):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


atexit.register(_kill_leftovers)


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, cluster_bus: bool = False) -> int:
    """A free loopback port; for a cluster node also port + 10000 (its cluster bus),
    which is why cluster ports stay at or below 55535."""
    while True:
        port = random.randint(20_000, 55_535)
        if _bindable(port) and (not cluster_bus or _bindable(port + 10_000)):
            return port


class RedisServer:
    """One redis-server process."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, workdir: Path) -> None:
        self.proc = proc
        self.port = port
        self.workdir = workdir

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(
        cls,
        base: Path,
        *,
        port: int | None = None,
        appendonly: bool = True,
        appendfsync: str = "always",
        extra: tuple[str, ...] = (),
    ) -> RedisServer:
        port = port or free_port()
        workdir = base / f"redis-{port}"
        workdir.mkdir(parents=True, exist_ok=True)
        args = [
            REDIS_SERVER,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(workdir),
            "--appendonly", "yes" if appendonly else "no",
            "--appendfsync", appendfsync,
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(workdir / "redis.log"),
            *extra,
        ]  # fmt: skip
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _started.add(proc.pid)
        server = cls(proc, port, workdir)
        server.wait_ready()
        return server

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server on {self.port} exited:\n{log}")
            try:
                with self.client() as c:
                    if c.ping():
                        return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on {self.port} did not answer")
            time.sleep(0.02)

    def flushall(self) -> None:
        with self.client() as c:
            c.flushall()

    def stop(self) -> None:
        """SIGTERM (Redis then flushes its AOF), SIGKILL if it does not exit."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        _started.discard(self.proc.pid)


class RedisClusterProcs:
    """A Redis Cluster of `masters` masters without replicas, built with redis-cli."""

    def __init__(self, nodes: list[RedisServer]) -> None:
        self.nodes = nodes

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    @classmethod
    def start(cls, base: Path, masters: int = 3, extra: tuple[str, ...] = ()) -> RedisClusterProcs:
        nodes: list[RedisServer] = []
        try:
            for _ in range(masters):
                port = free_port(cluster_bus=True)
                nodes.append(
                    RedisServer.start(
                        base,
                        port=port,
                        appendfsync="everysec",
                        extra=(
                            *extra,
                            "--cluster-enabled", "yes",
                            "--cluster-config-file", str(base / f"nodes-{port}.conf"),
                            "--cluster-node-timeout", "2000",
                        ),
                    )
                )  # fmt: skip
            subprocess.run(
                [
                    REDIS_CLI,
                    "--cluster", "create",
                    *(f"127.0.0.1:{n.port}" for n in nodes),
                    "--cluster-replicas", "0",
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )  # fmt: skip
            cluster = cls(nodes)
            cluster.wait_ok()
            return cluster
        except BaseException:
            for node in nodes:
                node.stop()
            raise

    def wait_ok(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            states = []
            for node in self.nodes:
                with node.client() as c:
                    info = c.execute_command("CLUSTER", "INFO")
                    text = info.decode() if isinstance(info, bytes) else str(info)
                    states.append("cluster_state:ok" in text)
            if all(states):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the test cluster did not reach cluster_state:ok")
            time.sleep(0.1)

    def flushall(self) -> None:
        for node in self.nodes:
            node.flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
