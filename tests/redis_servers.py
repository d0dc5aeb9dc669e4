"""Local Redis topologies for tests: a three-master Redis Cluster and a master/replica pair under Sentinel,
started from Debian's redis-server on loopback.

`python -m tests.redis_servers cluster -- <command>` runs <command> with CENTERBOT_TEST_REDIS_URL set to
the cluster (`make test-cluster`); `sentinel` does the same with a Sentinel-watched master.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import redis

MASTER = "centerbot"
SLOTS = 16384


def redis_server() -> str:
    """Debian's redis-server (package redis-server); the Makefile installs it when missing."""
    exe = shutil.which("redis-server", path="/usr/bin:/usr/local/bin:" + os.environ.get("PATH", ""))
    if not exe:
        raise RuntimeError("redis-server is not installed: apt-get install redis-server (make redis)")
    return exe


def free_port(also_free: int = 0) -> int:
    """A free loopback port; with `also_free`, port + also_free must be free too (a cluster's bus port)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + also_free < 65536 and (not also_free or _bindable(port + also_free)):
            return port
    raise RuntimeError("no free port")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@dataclass
class Server:
    """One redis-server process (a data node or a Sentinel) in its own directory."""

    port: int
    dir: Path
    extra: list[str]
    sentinel: bool = False
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> "Server":
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / ("sentinel.conf" if self.sentinel else "redis.conf")
        if not conf.exists():  # a restarted Sentinel keeps the state it rewrote into its file
            conf.write_text("\n".join([f"port {self.port}", "bind 127.0.0.1", f"dir {self.dir}",
                                       "daemonize no", f"logfile {self.dir / 'log'}", *self.extra, ""]))
        args = [redis_server(), str(conf)] + (["--sentinel"] if self.sentinel else [])
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.client().ping(), f"redis-server on port {self.port}")
        return self

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=2, socket_connect_timeout=1)

    def kill(self) -> None:
        """kill -9: no chance to save or to hand over."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_until(check, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            got = check()
            if got:
                return got
        except (redis.RedisError, OSError) as exc:
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}" + (f": {last}" if last else ""))


@contextlib.contextmanager
def cluster(masters: int = 3) -> Iterator[str]:
    """A Redis Cluster of `masters` masters sharing the 16,384 slots; yields its redis+cluster:// URL."""
    root = Path(tempfile.mkdtemp(prefix="centerbot-cluster-"))
    nodes: list[Server] = []
    try:
        for i in range(masters):
            port = free_port(also_free=10000)
            nodes.append(Server(port, root / str(port), ["cluster-enabled yes", "cluster-config-file nodes.conf",
                                                         "cluster-node-timeout 5000", "appendonly no",
                                                         'save ""']).start())
        share = SLOTS // masters
        for i, node in enumerate(nodes):
            first, last = i * share, SLOTS - 1 if i == masters - 1 else (i + 1) * share - 1
            node.client().execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
        for node in nodes[1:]:
            nodes[0].client().execute_command("CLUSTER MEET", "127.0.0.1", node.port)
        for node in nodes:
            wait_until(lambda: node.client().cluster("info")["cluster_state"] == "ok", "the cluster to form")
        yield "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in nodes)
    finally:
        for node in nodes:
            node.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class SentinelSet:
    """A master, its replica and the Sentinels that watch them."""

    master: Server
    replica: Server
    sentinels: list[Server]

    @property
    def url(self) -> str:
        return "redis+sentinel://" + ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels) + f"/{MASTER}"

    def master_port(self) -> int:
        return int(self.sentinels[0].client().sentinel_get_master_addr_by_name(MASTER)[1])


@contextlib.contextmanager
def sentinel(sentinels: int = 3, down_after_ms: int = 1000) -> Iterator[SentinelSet]:
    """A master with one replica watched by `sentinels` Sentinels (quorum: a majority), which fail over
    about `down_after_ms` after the master stops answering."""
    root = Path(tempfile.mkdtemp(prefix="centerbot-sentinel-"))
    durable = ["appendonly yes", "appendfsync always", 'save ""']
    servers: list[Server] = []
    try:
        master = Server(free_port(), root / "master", durable).start()
        servers.append(master)
        replica = Server(free_port(), root / "replica", durable + [f"replicaof 127.0.0.1 {master.port}"]).start()
        servers.append(replica)
        wait_until(lambda: replica.client().info("replication")["master_link_status"] == "up",
                   "the replica to sync")
        quorum = sentinels // 2 + 1
        watchers = []
        for i in range(sentinels):
            port = free_port()
            watchers.append(Server(port, root / f"sentinel-{port}", [
                f"sentinel monitor {MASTER} 127.0.0.1 {master.port} {quorum}",
                f"sentinel down-after-milliseconds {MASTER} {down_after_ms}",
                f"sentinel failover-timeout {MASTER} 10000",
                "sentinel resolve-hostnames no",
            ], sentinel=True).start())
            servers.append(watchers[-1])
        for w in watchers:  # every Sentinel has found the others and the replica
            wait_until(lambda: int(w.client().sentinel_master(MASTER)["num-other-sentinels"]) == sentinels - 1
                       and int(w.client().sentinel_master(MASTER)["num-slaves"]) == 1, "the Sentinels to meet")
        yield SentinelSet(master, replica, watchers)
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] not in ("cluster", "sentinel") or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    with (cluster() if argv[0] == "cluster" else sentinel()) as topology:
        url = topology if isinstance(topology, str) else topology.url
        print(f"CENTERBOT_TEST_REDIS_URL={url}", flush=True)
        return subprocess.call(argv[2:], env=dict(os.environ, CENTERBOT_TEST_REDIS_URL=url))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
