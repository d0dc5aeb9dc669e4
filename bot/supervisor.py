"""Keeps the processes of `centerbot run` alive: starts each child, restarts one that dies after a
growing delay (1 s, 2 s, 4 s ... at most 30 s; back to 1 s once it has run for a minute), and logs it.

One child dying (the worker killed by the OOM killer, gunicorn's master crashing) leaves the others
serving: the web app keeps answering while the worker comes back, and the worker's leases hand its
unfinished jobs and messages to the restarted one.
"""
from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger("centerbot.run")

FIRST_DELAY = 1.0
MAX_DELAY = 30.0
STABLE = 60.0  # seconds a child must run before its next death counts as a first one again


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen | None = None
    started: float = 0.0
    deaths: int = 0  # deaths in a row, each within STABLE seconds of its start
    restart_at: float | None = None
    restarts: int = field(default=0)


class Supervisor:
    def __init__(self, children: dict[str, list[str]], env: dict[str, str], *,
                 first_delay: float = FIRST_DELAY, max_delay: float = MAX_DELAY, stable: float = STABLE,
                 spawn: Callable[..., subprocess.Popen] = subprocess.Popen):
        self.children = [Child(name, argv) for name, argv in children.items()]
        self.env = env
        self.first_delay, self.max_delay, self.stable = first_delay, max_delay, stable
        self._spawn = spawn

    def _start(self, child: Child) -> None:
        child.proc = self._spawn(child.argv, env=self.env)
        child.started = time.monotonic()
        child.restart_at = None

    def start(self) -> None:
        for child in self.children:
            self._start(child)
            log.info("started %s (pid %d)", child.name, child.proc.pid)

    def delay(self, child: Child) -> float:
        return min(self.max_delay, self.first_delay * 2 ** max(0, child.deaths - 1))

    def check(self) -> None:
        """Notice children that died and restart those whose delay has passed."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is None and child.proc is not None and child.proc.poll() is not None:
                child.deaths = 1 if now - child.started >= self.stable else child.deaths + 1
                wait = self.delay(child)
                child.restart_at = now + wait
                log.warning("%s (pid %d) died with %s; restarting it in %.1f s", child.name, child.proc.pid,
                            describe_exit(child.proc.returncode), wait)
            if child.restart_at is not None and now >= child.restart_at:
                try:
                    self._start(child)
                except OSError as exc:
                    child.deaths += 1
                    child.restart_at = now + self.delay(child)
                    log.error("cannot restart %s (%s); trying again in %.1f s", child.name, exc,
                              self.delay(child))
                    continue
                child.restarts += 1
                log.warning("restarted %s (pid %d, restart %d)", child.name, child.proc.pid, child.restarts)

    def run(self, stop: threading.Event, poll: float = 0.5, watch: Callable[[], None] | None = None,
            watch_every: float = 2.0) -> None:
        """Supervise until `stop` is set; `watch` runs every `watch_every` seconds (e.g. the embedded Redis)."""
        next_watch = time.monotonic() + watch_every
        while not stop.is_set():
            self.check()
            if watch is not None and time.monotonic() >= next_watch:
                next_watch = time.monotonic() + watch_every
                try:
                    watch()
                except Exception:  # noqa: BLE001 - logged; supervising goes on
                    log.exception("watching failed")
            stop.wait(poll)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every child, then SIGKILL whatever is left after `timeout` seconds."""
        live = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        for proc in live:
            proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in live:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
