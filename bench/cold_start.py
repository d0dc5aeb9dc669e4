"""A center adopting centerbot, timed end to end: `centerbot run` on a fresh data directory (embedded
Redis, the sample base, nothing embedded yet) until a signed consultation gets its notification; then
`centerbot kb import` of the 284 real guides of gd-guides.xlsx, and of a 2,000-row 事项清单, each until a
citizen asking for one of the new matters by name gets its notification from the running bot; the web
workers' memory after each step. The rows of its section of BENCHMARKS.md (`python -m bench cold`)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openpyxl

from bench.import_bench import GD, workbook
from bench.load_servers import ROOT, Server, _die_with_parent, children, free_port, memory_of
from bench.load_wrk import TOKEN, message_xml, post, reply_text

QUESTION = "预备党员多久能转正"  # one the lexical channels are not sure of: the semantic channel answers it
COLD_GOAL, GD_GOAL, LIST_GOAL = 30.0, 15.0, 60.0
TIMEOUT = 900.0


def _gunicorn_workers(run_pid: int) -> list[int]:
    for pid in children(run_pid):
        try:
            if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return children(pid)
        except OSError:
            pass
    return []


def _last_name(path: Path) -> str:
    """The name in the last row of a workbook's first sheet: a matter only that workbook brings."""
    rows = [r for r in openpyxl.load_workbook(path, read_only=True).active.iter_rows(values_only=True) if r and r[0]]
    return str(rows[-1][0])


class Center:
    """`centerbot run` on a fresh data directory, and the CLI beside it."""

    def __init__(self, tmp: Path):
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("CENTERBOT_", "WECHAT_", "REDIS_URL", "OMP_"))}
        self.env.update(CENTERBOT_DATA_DIR=str(tmp / "data"), WECHAT_TOKEN=TOKEN, PYTHONPATH=str(ROOT),
                        CENTERBOT_ENV="development")
        self.log = tmp / "run.log"
        port = free_port()
        with self.log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--port", str(port)], cwd=ROOT,
                                    env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, preexec_fn=_die_with_parent)
        self.server = Server("center", port, proc, self.log)
        self.asked = 0

    def answered(self, question: str, expect: str, since: float) -> float:
        """Ask until the reply holds `expect` (a new message each time); seconds since `since`."""
        while time.monotonic() - since < TIMEOUT and self.server.proc.poll() is None:
            self.asked += 1
            try:
                status, body = post(self.server, message_xml(f"o_cold{self.asked}", question, self.asked))
            except OSError:
                status, body = 0, ""
            if status == 200 and expect in reply_text(body) and "一次性告知" in reply_text(body):
                return time.monotonic() - since
            time.sleep(0.25)
        raise RuntimeError(f"'{question}' not answered within {TIMEOUT:.0f} s; see the log:\n"
                           f"{self.log.read_text(errors='replace')[-3000:]}")

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=TIMEOUT)
        if done.returncode != 0:
            raise RuntimeError(f"centerbot {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        return done.stdout

    def memory(self) -> list[dict[str, float]]:
        return [memory_of(pid) for pid in _gunicorn_workers(self.server.proc.pid)]

    def stop(self) -> None:
        proc = self.server.proc
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _import(center: Center, path: Path) -> dict:
    name = _last_name(path)
    started = time.monotonic()
    out = center.cli("kb", "import", str(path))
    saved = time.monotonic() - started
    answered = center.answered(name, name[:10], started)
    return {"name": name, "saved": saved, "answered": answered, "memory": center.memory(),
            "progress": [line for line in out.splitlines() if "embedd" in line or " left" in line][:4]}


def run() -> dict:
    with tempfile.TemporaryDirectory(prefix="centerbot-cold-") as tmp:
        center = Center(Path(tmp))
        try:
            started = time.monotonic()
            first = center.answered(QUESTION, "", started)
            cold = {"first": first, "memory": center.memory(),
                    "progress": [line for line in center.log.read_text(errors="replace").splitlines()
                                 if "embedd" in line][:6]}
            gd = _import(center, GD)
            big = _import(center, workbook(Path(tmp) / "list.xlsx"))
        finally:
            center.stop()
    return {"cold": cold, "gd": gd, "list": big, "load": os.getloadavg(), "cores": os.cpu_count()}


def _mem(memory: list[dict[str, float]]) -> str:
    return ", ".join(f"{m['rss']:.0f} / {m['pss']:.0f}" for m in memory)


def section(r: dict, stamp: str) -> str:
    def verdict(seconds: float, goal: float) -> str:
        return f"**{seconds:.1f} s** (goal ≤ {goal:.0f} s: {'met' if seconds <= goal else 'not met'})"

    cold, gd, big = r["cold"], r["gd"], r["list"]
    load = " / ".join(f"{x:.1f}" for x in r["load"])
    lines = "\n".join(f"    {line.strip()[-140:]}" for line in cold["progress"] + big["progress"])
    return f"""## A center adopting centerbot: cold start and its own lists, live

`bench/cold_start.py` (`python -m bench cold`); {stamp}; load average {load} (1/5/15 min) at the end.
`centerbot run` on a fresh data directory (its embedded Redis, the sample base, no embedding cache;
the default 2 web workers and the worker), then a signed consultation every quarter second until its
notification comes back: first {QUESTION} (which the semantic channel answers), then, after each
`centerbot kb import`, the name of the workbook's last matter. gunicorn's master embeds the base
once, in a child process using every core ({r['cores']}), before it forks the workers; `kb import` embeds
the changed base the same way before it publishes the change, so the workers switch to it at once.

| step | answered after | web workers' memory, RSS / PSS MiB |
|---|---|---|
| cold start to the first answer | {verdict(cold['first'], COLD_GOAL)} | {_mem(cold['memory'])} |
| `kb import gd-guides.xlsx` (284 real guides) to its last guide answered | {verdict(gd['answered'], GD_GOAL)} (saved after {gd['saved']:.1f} s) | {_mem(gd['memory'])} |
| `kb import` of a 2,000-row list to its last matter answered | {verdict(big['answered'], LIST_GOAL)} (saved after {big['saved']:.1f} s) | {_mem(big['memory'])} |

What the bot and the CLI said while they embedded:

{lines}
"""


if __name__ == "__main__":
    import datetime as dt

    print(section(run(), f"run {dt.date.today().isoformat()}"))
