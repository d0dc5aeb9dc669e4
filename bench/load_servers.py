"""The servers under load for `python -m bench load`: the Procfile's gunicorn command on a loopback port
(the app or the bare echo webhook), its readiness, its stop, and the CPU time and memory of its processes
read from /proc."""
from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from bench.matcher_bench import CACHE

ROOT = Path(__file__).resolve().parent.parent
PROCFILE = ROOT / "Procfile"
TOKEN = "bench-load-token"
ECHO_APP = "bench.echo:create_app()"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def procfile_web(port: int, app: str | None = None, env: dict[str, str] | None = None) -> list[str]:
    """The Procfile's `web` command as argv, its ${VAR:-default} expanded from `env`, bound to a
    loopback port, and optionally serving another app."""
    env = os.environ if env is None else env
    line = next(x for x in PROCFILE.read_text().splitlines() if x.startswith("web:"))
    command = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m[1]) or m[2], line.split(":", 1)[1])
    argv = shlex.split(command)
    if argv[0] != "gunicorn" or "--bind" not in argv or not argv[-1].endswith("create_app()"):
        raise RuntimeError(f"unexpected Procfile web command: {line}")
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    if app:
        argv[-1] = app
    return [sys.executable, "-m", *argv]


def setting(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes have used so far."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def redis_pid(url: str) -> int:
    """The pid of a `temporary_server` (its pidfile sits beside its socket)."""
    return int((Path(url.removeprefix("unix://")).parent / "redis.pid").read_text().strip())


def memory_of(pid: int) -> dict[str, float]:
    """Resident and proportional set size of a process, in MiB."""
    rss = next(int(x.split()[1]) for x in Path(f"/proc/{pid}/status").read_text().splitlines()
               if x.startswith("VmRSS:"))
    pss = next(int(x.split()[1]) for x in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
               if x.startswith("Pss:"))
    return {"rss": rss / 1024, "pss": pss / 1024}


@dataclass
class Server:
    """A gunicorn master serving on a loopback port."""

    name: str
    port: int
    proc: subprocess.Popen
    log: Path
    argv: list[str] = field(default_factory=list)

    @property
    def workers(self) -> list[int]:
        return children(self.proc.pid)

    def url(self, query: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/wechat" + (f"?{query}" if query else "")


def _quiet(pids: list[int], timeout: float) -> bool:
    """Wait until the processes use no CPU for a second: done with loading or with requests."""
    deadline = time.monotonic() + timeout
    last, quiet = None, 0
    while time.monotonic() < deadline:
        ticks = [cpu_seconds([pid]) for pid in pids]
        quiet = quiet + 1 if ticks == last else 0
        last = ticks
        if quiet >= 3:
            return True
        time.sleep(0.3)
    return False


def _ready(server: Server, count: int, timeout: float) -> None:
    """Wait until the master has `count` workers, one of them answers (an unsigned GET: 403), and no
    worker uses CPU any more: each has loaded the app (there is no --preload) and waits for requests."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited; see its log:\n{server.log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(server.url(), timeout=timeout)
        except urllib.error.HTTPError:
            workers = server.workers
            if len(workers) == count and _quiet(workers, deadline - time.monotonic()):
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{server.name} did not start within {timeout:.0f} s; see {server.log}")


@contextlib.contextmanager
def gunicorn(name: str, env: dict[str, str], logs: Path, app: str | None = None,
             timeout: float = 300, extra: list[str] = ()) -> Iterator[Server]:
    """Serve the Procfile's web command (or `app` with its settings, plus `extra` options of gunicorn);
    stop it and its workers on exit."""
    port = free_port()
    argv = procfile_web(port, app, env)
    argv[-1:-1] = list(extra)
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent)
    server = Server(name, port, proc, log, argv)
    try:
        _ready(server, int(setting(argv, "--workers")), timeout)
        yield server
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """Graceful stop of the master, then SIGKILL for its whole process group, whatever is left."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def app_env(redis_url: str, data_dir: Path, knowledge_dir: Path) -> dict[str, str]:
    """The environment of the app under test: the given base, Redis and a private data directory
    whose embedding cache is the benchmarks' (so a base is embedded once, not at every run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CENTERBOT_", "WECHAT_"))}
    data_dir.mkdir(parents=True, exist_ok=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "cache").exists():
        (data_dir / "cache").symlink_to(CACHE)
    env.update(WECHAT_TOKEN=TOKEN, REDIS_URL=redis_url, CENTERBOT_DATA_DIR=str(data_dir),
               CENTERBOT_KNOWLEDGE_DIR=str(knowledge_dir), CENTERBOT_ENV="development",
               PYTHONPATH=str(ROOT))
    return env



def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the bench dies, however it dies (Linux prctl)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
