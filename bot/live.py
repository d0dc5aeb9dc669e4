"""Live data: a version key in Redis that every process watches, so a change made by one process (an
import, a console edit, `centerbot kb reload`) reaches every web worker and the worker within seconds,
without a restart. Generic: anything kept live (the knowledge base today) names its key and says how
to rebuild itself.

Each process checks the key at most every `interval` seconds (one GET) on a background thread and,
when the value moved, calls `on_change` on that thread: requests go on being answered from the old
data while the new is built, and a rebuild that fails leaves the old data in place.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

import redis

log = logging.getLogger(__name__)

INTERVAL = 2.0


class Watch:
    def __init__(self, client: redis.Redis, key: str, on_change: Callable[[str | None], None],
                 seen: str | None, interval: float = INTERVAL, name: str = "live"):
        """`seen`: the value the current data was built from; `on_change(value)` rebuilds the data for
        the key's new value (it raises to keep the old data: the same value is not tried again)."""
        self.r = client
        self.key = key
        self.on_change = on_change
        self.seen = seen
        self.interval = interval
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        """Look at the key once; rebuild when it moved. True when the data was rebuilt."""
        try:
            value = self.r.get(self.key)
        except redis.RedisError as exc:
            log.debug("%s: cannot read %s (%s)", self.name, self.key, type(exc).__name__)
            return False
        if value == self.seen:
            return False
        try:
            self.on_change(value)
        except Exception:
            log.exception("%s: rebuilding for %s=%s failed; the previous data stays in use",
                          self.name, self.key, value)
            self.seen = value
            return False
        self.seen = value
        return True

    def start(self) -> "Watch":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"{self.name}-watch", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
