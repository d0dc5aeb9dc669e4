"""The one clock of the app: China Standard Time now, replaceable by a fixed or moving clock in tests."""
from __future__ import annotations

import datetime as dt

CST = dt.timezone(dt.timedelta(hours=8), "CST")


class Clock:
    """Wall-clock time in the center's time zone (UTC+8, no daylight saving)."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(CST)

    def today(self) -> dt.date:
        return self.now().date()

    def timestamp(self) -> float:
        return self.now().timestamp()


class FixedClock(Clock):
    """A clock that stands still until moved; for tests and the `--at` option of the CLI."""

    def __init__(self, at: dt.datetime):
        self._at = at if at.tzinfo else at.replace(tzinfo=CST)

    def now(self) -> dt.datetime:
        return self._at

    def set(self, at: dt.datetime) -> None:
        self._at = at if at.tzinfo else at.replace(tzinfo=CST)

    def advance(self, **delta: float) -> None:
        self._at += dt.timedelta(**delta)
