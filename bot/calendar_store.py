"""The imported holiday notices: stored in Redis through named operations, previewed and saved for the
CLI (`centerbot calendar import`) and the console, and watched by every process's WorkCalendar.

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
from dataclasses import dataclass, field

from knowledge.holiday_notice import Notice, NoticeError, parse


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


# -- importing a notice (the CLI and the console) ---------------------------------------------------
@dataclass
class Preview:
    """What an import would store: the notice read (applied to the year's stored one when it amends it),
    whether it replaces an imported year, and the days whose working status it changes."""

    notice: Notice
    text: str
    replaces: bool
    changed: list[dt.date] = field(default_factory=list)

    @property
    def year(self) -> int:
        return self.notice.year


def preview(ctx, text: str) -> Preview:
    """Read `text` and compare it with the calendar in force; raises NoticeError (nothing is stored)."""
    if len(text) > 20000:
        raise NoticeError(0, "通知文字过长：请只粘贴通知本身")
    notice = parse(text)
    cals = CalendarStore(ctx.store)
    stored = cals.year(notice.year)
    if notice.is_amendment:
        if stored is None:
            raise NoticeError(0, f"这是一份调整通知：请先导入{notice.year}年的放假安排通知，再导入它")
        base = Notice(notice.year, {dt.date.fromisoformat(d): n for d, n in stored["holidays"].items()},
                      {dt.date.fromisoformat(d): n for d, n in stored["workdays"].items()})
        notice = notice.applied_to(base)
        text = stored.get("text", "") + "\n\n" + text
    ctx.calendar.refresh(force=True)
    after = ctx.calendar.with_year(notice.year, notice.holidays, notice.workdays)
    day = min([*notice.holidays, *notice.workdays, dt.date(notice.year, 1, 1)])
    changed = []
    while day <= dt.date(notice.year, 12, 31):
        if ctx.calendar.is_workday(day) != after.is_workday(day):
            changed.append(day)
        day += dt.timedelta(days=1)
    return Preview(notice, text, stored is not None, changed)


def save(ctx, seen: Preview, by: str) -> int:
    """Store the previewed year, take it up in this process at once, and have the worker move or cancel
    what the change affects (bookings on days now closed, due dates, their reminders). The version."""
    version = CalendarStore(ctx.store).save(seen.year, seen.notice.holidays, seen.notice.workdays, seen.text, by)
    ctx.calendar.refresh(force=True)
    ctx.store.schedule({"kind": "calendar_changed", "year": seen.year, "version": version,
                        "changed": [d.isoformat() for d in seen.changed]}, ctx.clock.timestamp())
    return version


def missing_years(ctx, days: int = 90) -> list[int]:
    """Years the next `days` days reach whose official arrangement is neither known nor imported."""
    return ctx.calendar.unknown_years(ctx.clock.today(), days)
