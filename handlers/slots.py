"""The booking calendar: which slots a resource has on a day, and whether one may be booked now."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from knowledge.calendar import WorkCalendar
from knowledge.schema import Hours, Resource


@dataclass(frozen=True)
class Slot:
    resource: str
    date: dt.date
    start: dt.time
    end: dt.time

    @property
    def key(self) -> str:
        return f"{self.start:%H%M}"

    @property
    def label(self) -> str:
        half = "上午" if self.start.hour < 12 else "下午"
        return f"{half}{self.start:%H:%M}-{self.end:%H:%M}"

    def starts_at(self, tz: dt.tzinfo) -> dt.datetime:
        return dt.datetime.combine(self.date, self.start, tz)


class Refusal(Exception):
    """A request that breaks a rule; `reason` is a template name under booking/why/, `facts` its data."""

    def __init__(self, reason: str, **facts):
        super().__init__(reason)
        self.reason = reason
        self.facts = facts


class Rules:
    """A resource's rules applied to the calendar: opening hours, holidays, notice, horizon."""

    def __init__(self, resource: Resource, calendar: WorkCalendar, center_hours: Hours):
        self.resource = resource
        self.calendar = calendar
        self.hours = resource.hours or center_hours

    def slots(self, date: dt.date) -> list[Slot]:
        """Every slot of the day, open or not: empty on a day the center is closed."""
        if not self.calendar.is_workday(date):
            return []
        out = []
        for period in self.hours.periods:
            if self.resource.slot_minutes == 0:
                out.append(Slot(self.resource.id, date, period.start, period.end))
                continue
            start = dt.datetime.combine(date, period.start)
            end = dt.datetime.combine(date, period.end)
            step = dt.timedelta(minutes=self.resource.slot_minutes)
            while start + step <= end:
                out.append(Slot(self.resource.id, date, start.time(), (start + step).time()))
                start += step
        return out

    def slot_at(self, date: dt.date, time: dt.time) -> Slot | None:
        """The slot that contains `time` on `date` (9:30 is in 9:00-10:00)."""
        return next((s for s in self.slots(date) if s.start <= time < s.end), None)

    def check_day(self, date: dt.date, now: dt.datetime) -> None:
        """Refuse a day that is past, beyond the horizon, closed, or too soon for a day-based notice."""
        today = now.date()
        if date < today:
            raise Refusal("past")
        if date > today + dt.timedelta(days=self.resource.horizon_days):
            raise Refusal("horizon", days=self.resource.horizon_days)
        info = self.calendar.day(date)
        if not self.calendar.is_workday(date):
            raise Refusal("closed", info=info)
        notice = self.resource.notice
        if notice.working_days is not None and self._working_days_between(today, date) < notice.working_days:
            raise Refusal("notice", says=notice.says)
        if not any(self.bookable(s, now) for s in self.slots(date)):
            raise Refusal("no_slot_left_today" if date == today else "notice", says=notice.says)

    def check_slot(self, slot: Slot, now: dt.datetime) -> None:
        self.check_day(slot.date, now)
        if slot.starts_at(now.tzinfo) <= now:
            raise Refusal("started")
        if not self._notice_ok(slot, now):
            raise Refusal("notice", says=self.resource.notice.says)

    def bookable(self, slot: Slot, now: dt.datetime) -> bool:
        return slot.starts_at(now.tzinfo) > now and self._notice_ok(slot, now)

    def _notice_ok(self, slot: Slot, now: dt.datetime) -> bool:
        notice = self.resource.notice
        if notice.minutes is not None:
            return slot.starts_at(now.tzinfo) - now >= dt.timedelta(minutes=notice.minutes)
        return self._working_days_between(now.date(), slot.date) >= notice.working_days

    def _working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after `start` up to and including `end`."""
        count, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            count += self.calendar.is_workday(day)
        return count

    def next_days(self, now: dt.datetime, limit: int = 5) -> list[dt.date]:
        """The next days with at least one slot still bookable by the rules (seats aside)."""
        days, day = [], now.date()
        while len(days) < limit and day <= now.date() + dt.timedelta(days=self.resource.horizon_days):
            if any(self.bookable(s, now) for s in self.slots(day)):
                days.append(day)
            day += dt.timedelta(days=1)
        return days

    def can_cancel(self, slot: Slot, now: dt.datetime) -> bool:
        return slot.starts_at(now.tzinfo) - now >= dt.timedelta(minutes=self.resource.cancel_before_minutes)
