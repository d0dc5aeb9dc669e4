"""WeChat's budget for a passive reply, kept without a thread handoff per message.

The webhook runs a message's handler inline, in the request's own thread, and asks the one watchdog
thread of its process to watch the deadline. A handler that finishes in time answers as usual; one still
running at its deadline is marked deferred by the watchdog (WeChat's retry is then answered `success`
at once instead of waiting), and its answer, when it comes, goes out through the outbox. A handoff to a
pool thread for every message cost about a tenth of a message's CPU (BENCHMARKS.md); the watchdog costs
a dictionary entry per message and four wake-ups a second.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

RUNNING, FINISHED, DEFERRED = "running", "finished", "deferred"


class Handling:
    """One message being handled: its deadline, and what the watchdog does when it passes."""

    __slots__ = ("deadline", "on_overrun", "state", "lock")

    def __init__(self, deadline: float, on_overrun: Callable[[], None]):
        self.deadline = deadline
        self.on_overrun = on_overrun
        self.state = RUNNING
        self.lock = threading.Lock()


class Watchdog:
    """Watches the deadlines of the handlers running in this process (a thread started on first use,
    and again in a forked child, where threads do not follow)."""

    def __init__(self, tick: float = 0.25):
        self.tick = tick
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._active: dict[int, Handling] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: float, on_overrun: Callable[[], None]) -> Handling:
        """Start watching a handler that must finish by `deadline` (time.monotonic())."""
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
                    self._thread.start()
        w = Handling(deadline, on_overrun)
        with self._lock:
            self._active[id(w)] = w
        return w

    def finish(self, w: Handling) -> bool:
        """The handler is done: True when it finished in time (answer it as usual); False when the
        watchdog deferred it (its overrun step has run: send the answer through the outbox)."""
        with self._lock:
            self._active.pop(id(w), None)
        with w.lock:  # an overrun step being run is waited for, so the late answer follows it
            if w.state == RUNNING:
                w.state = FINISHED
                return True
            return False

    def _run(self) -> None:
        while True:
            time.sleep(self.tick)
            now = time.monotonic()
            with self._lock:
                due = [w for w in self._active.values() if w.deadline <= now]
                for w in due:
                    del self._active[id(w)]
            for w in due:
                with w.lock:
                    if w.state != RUNNING:
                        continue
                    w.state = DEFERRED
                    try:
                        w.on_overrun()
                    except Exception:  # Redis out of reach: the retry runs the message again after the lease
                        log.exception("marking an overrunning message deferred failed")


WATCHDOG = Watchdog()  # one per process
