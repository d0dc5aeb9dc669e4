"""The one calendar: which days the center works (Chinese holidays, make-up days) and when it is open."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import lru_cache

import chinese_calendar

from knowledge.schema import Center

log = logging.getLogger(__name__)

# chinese-calendar's English holiday names, in the words a citizen uses.
HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
}
WEEKDAY_NAMES = "一二三四五六日"


@dataclass(frozen=True)
class DayInfo:
    date: dt.date
    workday: bool
    holiday: str | None  # the holiday's Chinese name when the day is a statutory holiday
    makeup: bool  # a weekend day that is a make-up workday (调休上班)
    known: bool  # False when neither chinese-calendar nor center.yaml knows the year

    @property
    def weekday_name(self) -> str:
        return "星期" + WEEKDAY_NAMES[self.date.weekday()]


class WorkCalendar:
    """Working days per chinese-calendar, with center.yaml's lists for years the package lacks."""

    def __init__(self, center: Center):
        self.center = center
        self._warned: set[int] = set()
        # a day's answer never changes while the process runs, and chinese-calendar's lookup is
        # the dearest part of listing bookable days: keep the answers (a few years of days)
        self._days = lru_cache(maxsize=2048)(self._day)

    def day(self, date: dt.date) -> DayInfo:
        return self._days(date)

    def _day(self, date: dt.date) -> DayInfo:
        extra = self.center.calendar.get(date.year)
        if extra and (date in extra.holidays or date in extra.workdays):
            is_holiday = date in extra.holidays
            return DayInfo(date, not is_holiday, "节假日" if is_holiday else None,
                           not is_holiday and date.weekday() >= 5, True)
        try:
            on_holiday, name = chinese_calendar.get_holiday_detail(date)
        except NotImplementedError:
            if date.year not in self._warned and extra is None:
                self._warned.add(date.year)
                log.warning("chinese-calendar does not know %s and center.yaml lists no calendar for it: "
                            "counting Monday-Friday as working days", date.year)
            weekend = date.weekday() >= 5
            return DayInfo(date, not weekend, None, False, extra is not None)
        weekend = date.weekday() >= 5
        if on_holiday:
            holiday = HOLIDAY_NAMES.get(name, "节假日") if name else None
            return DayInfo(date, False, holiday if not weekend or name else None, False, True)
        return DayInfo(date, True, None, weekend, True)

    def is_workday(self, date: dt.date) -> bool:
        """True on the center's weekdays that are not holidays, and on make-up workdays."""
        info = self.day(date)
        return info.makeup or (info.workday and date.isoweekday() in self.center.hours.weekdays)

    def is_open_at(self, at: dt.datetime) -> bool:
        if not self.is_workday(at.date()):
            return False
        t = at.time()
        return any(p.start <= t < p.end for p in self.center.hours.periods)

    def next_opening(self, at: dt.datetime) -> dt.datetime:
        """The next moment the center opens at or after `at` (itself if open now)."""
        if self.is_open_at(at):
            return at
        date = at.date()
        for _ in range(60):
            if self.is_workday(date):
                for p in self.center.hours.periods:
                    start = dt.datetime.combine(date, p.start, at.tzinfo)
                    if start >= at:
                        return start
            date += dt.timedelta(days=1)
            at = dt.datetime.combine(date, dt.time(0), at.tzinfo)
        raise RuntimeError("no opening in the next 60 days: check the center's hours")

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The date `days` working days after `start` (the day of application does not count)."""
        date = start
        remaining = days
        while remaining > 0:
            date += dt.timedelta(days=1)
            if self.is_workday(date):
                remaining -= 1
        return date
