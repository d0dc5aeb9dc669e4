"""The one calendar: which days the center works (Chinese holidays, make-up days) and when it is open.

Where a day's answer comes from, first found first:
  1. the State Council notices the administrator imported (`centerbot calendar import`, the console),
     read from the store and refreshed in every process when they change (checked every ~2 s);
  2. center.yaml's `calendar:` lists;
  3. the chinese-calendar package (2004 to the last year it knows);
  4. the law alone (knowledge.holiday_law) for a later year: the statutory days are closed and named,
     everything else counts Monday-Friday, and `known` is False so that replies say the official
     arrangement is not yet published.
Days outside FIRST_YEAR..LAST_YEAR are `supported=False`: counted Monday-Friday, answered politely.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import chinese_calendar

from knowledge.holiday_law import FIRST_YEAR, LAST_YEAR, statutory_days, supported
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
PACKAGE_YEARS = frozenset(d.year for d in chinese_calendar.holidays)
CHECK_EVERY = 2.0  # seconds between two looks at the imported calendar's version
MAX_WORKING_DAYS = 1000  # add_working_days refuses more


@dataclass(frozen=True)
class DayInfo:
    date: dt.date
    workday: bool
    holiday: str | None  # the holiday's Chinese name when the day is a day off of a holiday
    makeup: bool  # a weekend day that is a make-up workday (调休上班)
    known: bool  # the year's official arrangement is known (package, notice imported, center.yaml)
    statutory: bool = False  # a day off fixed by law (元旦, 春节's four days, ...)
    supported: bool = True  # within FIRST_YEAR..LAST_YEAR

    @property
    def weekday_name(self) -> str:
        return "星期" + WEEKDAY_NAMES[self.date.weekday()]


class ArrangementSource(Protocol):
    """Where imported notices live (bot.store.calendar.CalendarStore): a version that changes with every
    import, and the arrangements: year -> {"holidays": {iso date: name}, "workdays": {iso date: name}}."""

    def version(self) -> int: ...

    def arrangements(self) -> dict[int, dict]: ...


@dataclass(frozen=True)
class _Lists:
    """Days named by an official arrangement, by date, and the years such arrangements cover."""

    holidays: dict[dt.date, str]
    workdays: dict[dt.date, str]
    years: frozenset[int]


def _lists(arrangements: dict[int, dict]) -> _Lists:
    holidays: dict[dt.date, str] = {}
    workdays: dict[dt.date, str] = {}
    for year in sorted(arrangements):
        data = arrangements[year]
        holidays.update({dt.date.fromisoformat(str(d)): n for d, n in data.get("holidays", {}).items()})
        workdays.update({dt.date.fromisoformat(str(d)): n for d, n in data.get("workdays", {}).items()})
    return _Lists(holidays, workdays, frozenset(arrangements))


class WorkCalendar:
    """Working days by the imported notices, center.yaml, chinese-calendar and the law, in that order."""

    def __init__(self, center: Center, source: ArrangementSource | None = None, check_every: float = CHECK_EVERY,
                 imported: dict[int, dict] | None = None):
        self.center = center
        self.source = source
        self.check_every = check_every
        self._warned: set[int] = set()
        self._center = _lists({y: {"holidays": c.holidays, "workdays": c.workdays}
                               for y, c in center.calendar.items()})
        self._raw: dict[int, dict] = dict(imported or {})
        self._imported = _lists(self._raw)
        self._version: int | None = None
        self._next_check = 0.0
        self._failing = False
        self._lock = threading.Lock()
        # a day's answer changes only with an import, and chinese-calendar's lookup is the dearest part
        # of listing bookable days: keep the answers (a few years of days), forgotten on a change
        self._days = lru_cache(maxsize=2048)(self._day)

    # -- the imported notices ---------------------------------------------------------------------
    def refresh(self, force: bool = False) -> bool:
        """Take up a change of the imported notices (at most every `check_every` s unless forced);
        True when the calendar changed. A store out of reach leaves the calendar as it was."""
        if self.source is None:
            return False
        now = time.monotonic()
        if not force and now < self._next_check:
            return False
        with self._lock:
            self._next_check = now + self.check_every
            try:
                version = self.source.version()
                if version == self._version:
                    return False
                raw = self.source.arrangements()
                self._imported = _lists(raw)
                self._raw = raw
            except Exception as exc:  # Redis briefly away: answer from what we had
                if not self._failing:
                    log.warning("calendar: imported notices not readable (%s); using the last ones read",
                                type(exc).__name__)
                self._failing = True
                return False
            self._failing = False
            self._version = version
            self._days.cache_clear()
            return True

    def imported_arrangements(self) -> dict[int, dict]:
        """The imported years as stored: year -> {"holidays": {iso: name}, "workdays": {iso: name}}."""
        return dict(self._raw)

    def with_year(self, year: int, holidays: dict[dt.date, str], workdays: dict[dt.date, str]) -> "WorkCalendar":
        """A still copy of this calendar with `year`'s arrangement replaced: what an import would make."""
        self.refresh()
        arrangements = {y: a for y, a in self._raw.items() if y != year}
        arrangements[year] = {"holidays": {d.isoformat(): n for d, n in holidays.items()},
                              "workdays": {d.isoformat(): n for d, n in workdays.items()}}
        return WorkCalendar(self.center, imported=arrangements)

    # -- days -------------------------------------------------------------------------------------
    def day(self, date: dt.date) -> DayInfo:
        self.refresh()
        return self._days(date)

    def _day(self, date: dt.date) -> DayInfo:
        weekend = date.weekday() >= 5
        if not supported(date.year):
            return DayInfo(date, not weekend, None, False, False, False, False)
        law = statutory_days(date.year)
        for lists in (self._imported, self._center):
            if date in lists.holidays:
                name = lists.holidays[date] or self._name_of_break(date)
                return DayInfo(date, False, name, False, True, date in law)
            if date in lists.workdays:
                return DayInfo(date, True, None, weekend, True)
        if date.year in self._imported.years or date.year in self._center.years:
            return DayInfo(date, not weekend, None, False, True)
        if date.year in PACKAGE_YEARS:
            on_holiday, name = chinese_calendar.get_holiday_detail(date)
            if on_holiday:
                holiday = HOLIDAY_NAMES.get(name, "节假日") if name else None
                return DayInfo(date, False, holiday if not weekend or name else None, False, True, date in law)
            return DayInfo(date, True, None, weekend, True)
        if date.year not in self._warned:
            self._warned.add(date.year)
            log.warning("no official holiday arrangement for %s (not in chinese-calendar, no notice imported): "
                        "statutory holidays by law, Monday-Friday otherwise, until the notice is imported "
                        "(centerbot calendar import)", date.year)
        if date in law:
            return DayInfo(date, False, law[date], False, False, True)
        return DayInfo(date, not weekend, None, False, False)

    def _name_of_break(self, date: dt.date) -> str:
        """An unnamed day off in center.yaml takes the name of the nearest statutory day within a week."""
        for gap in range(8):
            for day in (date - dt.timedelta(days=gap), date + dt.timedelta(days=gap)):
                name = statutory_days(day.year).get(day)
                if name:
                    return name
        return "节假日"

    def known(self, year: int) -> bool:
        """Whether `year`'s official arrangement (the State Council's notice) is known."""
        self.refresh()
        return year in PACKAGE_YEARS or year in self._imported.years or year in self._center.years

    def unknown_years(self, start: dt.date, days: int = 90) -> list[int]:
        """The years the next `days` days reach whose official arrangement is not known yet."""
        end = start + dt.timedelta(days=days)
        return [y for y in range(start.year, end.year + 1) if supported(y) and not self.known(y)]

    def is_workday(self, date: dt.date) -> bool:
        """True on the center's weekdays that are not holidays, and on make-up workdays."""
        info = self.day(date)
        return info.makeup or (info.workday and date.isoweekday() in self.center.hours.weekdays)

    def is_open_at(self, at: dt.datetime) -> bool:
        if not self.is_workday(at.date()):
            return False
        t = at.time()
        return any(p.start <= t < p.end for p in self.center.hours.periods)

    def service_periods(self, date: dt.date) -> list[tuple[dt.time, dt.time]]:
        """When a window may serve on `date`: office hours on working days, and the center's extended
        hours (延时服务, by appointment) on their weekdays, except on holidays and on the center's
        weekdays that are days off; merged where they touch, in order."""
        hours = self.center.hours
        workday = self.is_workday(date)
        spans = [(p.start, p.end) for p in hours.periods] if workday else []
        weekday = date.isoweekday()
        off = self.day(date).holiday or (weekday in hours.weekdays and not workday)
        for extended in hours.extended:
            if weekday in extended.days and not off:
                spans += [(p.start, p.end) for p in extended.periods]
        merged: list[tuple[dt.time, dt.time]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def by_appointment_at(self, at: dt.datetime) -> bool:
        """Outside office hours but inside the extended hours (延时服务): served by appointment only."""
        t = at.time()
        return not self.is_open_at(at) and any(start <= t < end for start, end in self.service_periods(at.date()))

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
        """The date `days` working days after `start` (the day of application does not count).

        At most MAX_WORKING_DAYS (about four years): a larger count is a mistake or an attack, and
        would walk the calendar day by day for a long time."""
        if not 0 <= days <= MAX_WORKING_DAYS:
            raise ValueError(f"{days} working days is outside 0..{MAX_WORKING_DAYS}")
        date = start
        remaining = days
        while remaining > 0:
            date += dt.timedelta(days=1)
            if self.is_workday(date):
                remaining -= 1
        return date


__all__ = ["ArrangementSource", "DayInfo", "FIRST_YEAR", "LAST_YEAR", "WorkCalendar"]
