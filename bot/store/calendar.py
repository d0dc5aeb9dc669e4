"""The imported holiday notices, stored through named operations and watched by every process's
WorkCalendar (it is their ArrangementSource). Reading and saving a notice is bot/calendar_import.py.

Key layout (prefix `centerbot:`, one hash tag so a change is one transaction on Cluster too):
  {cal}:years          hash: year -> JSON {"holidays": {iso: name}, "workdays": {iso: name},
                                           "text": the notice(s) as pasted, "by": who, "at": when}
  {cal}:version        counter raised by every change; each process reloads the years when it moves
                       (WorkCalendar looks at it at most every ~2 s, not at every message)
  {cal}:once:<what>    one-time steps already taken (the leaders' reminder for a year, a migration)
"""
from __future__ import annotations

import datetime as dt
import json


class CalendarStore:
    """Named operations on the imported notices (an ArrangementSource for WorkCalendar)."""

    def __init__(self, store):
        self.r = store.r
        self.clock = store.clock
        self._key = lambda *parts: store.key("cal", *parts)

    def version(self) -> int:
        return int(self.r.get(self._key("version")) or 0)

    def arrangements(self) -> dict[int, dict]:
        """year -> {"holidays": {iso: name}, "workdays": {iso: name}} of every imported year."""
        out = {}
        for year, raw in self.r.hgetall(self._key("years")).items():
            data = json.loads(raw)
            out[int(year)] = {"holidays": data.get("holidays", {}), "workdays": data.get("workdays", {})}
        return out

    def year(self, year: int) -> dict | None:
        raw = self.r.hget(self._key("years"), str(year))
        return json.loads(raw) if raw else None

    def years(self) -> list[int]:
        return sorted(int(y) for y in self.r.hkeys(self._key("years")))

    def save(self, year: int, holidays: dict[dt.date, str], workdays: dict[dt.date, str], text: str,
             by: str) -> int:
        """Store `year`'s arrangement (replacing any) and raise the version, in one transaction."""
        data = {"holidays": {d.isoformat(): n for d, n in sorted(holidays.items())},
                "workdays": {d.isoformat(): n for d, n in sorted(workdays.items())},
                "text": text[:20000], "by": by, "at": self.clock.timestamp()}
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self._key("years"), str(year), json.dumps(data, ensure_ascii=False))
        pipe.incr(self._key("version"))
        return int(pipe.execute()[-1])

    def done(self, what: str) -> bool:
        return bool(self.r.exists(self._key("once", what)))

    def once(self, what: str) -> bool:
        """True the first time `what` is asked for, False ever after (a one-time step, across workers)."""
        return bool(self.r.set(self._key("once", what), self.clock.timestamp(), nx=True))
