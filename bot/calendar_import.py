"""A State Council holiday notice imported: read, compared with the calendar in force (the preview the
administrator confirms), and saved, for `centerbot calendar import` and the console's 节假日 page."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from bot.store.calendar import CalendarStore
from knowledge.holiday_notice import Notice, NoticeError, parse


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
