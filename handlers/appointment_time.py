"""Whether a citizen's preferred time for a window appointment falls within the center's office hours
or its extended hours (延时服务, center.yaml `hours.extended`), and, when it does not, the nearest
times that do. A time said without a day (下班以后, 晚上7点) fits when it fits one of the coming days."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from handlers.context import Context
from handlers.when import parse_day, parse_time

SERVICE = dt.timedelta(minutes=30)  # an appointment needs at least this long before the window closes
ALTERNATIVES = 3
LOOK_AHEAD = 14  # days searched for the nearest valid times
# half-days and evenings said without a clock time: the span they name
_PARTS = (
    (re.compile(r"上午|早上|早晨"), dt.time(8, 0), dt.time(12, 0)),
    (re.compile(r"中午"), dt.time(11, 30), dt.time(14, 0)),
    (re.compile(r"下午"), dt.time(12, 0), dt.time(18, 0)),
    (re.compile(r"晚上|傍晚"), dt.time(17, 30), dt.time(21, 0)),
)
_AFTER_WORK = re.compile(r"下班(以后|后|之后)")


@dataclass(frozen=True)
class Check:
    """`fits`: the time can be served (or says nothing we can check); else `alternatives` (the nearest
    valid times, in order) and `holiday` (the day's holiday, when that is why)."""

    fits: bool
    alternatives: tuple[dt.datetime, ...] = ()
    holiday: str = ""


def _span(ctx: Context, text: str) -> tuple[dt.time, dt.time] | None:
    """The span of a day the text asks for: a clock time (30 minutes from it), a half-day, 下班以后."""
    at = parse_time(text)
    if at is not None:
        end = (dt.datetime.combine(dt.date.min, at) + SERVICE)
        return at, end.time() if end.date() == dt.date.min else dt.time(23, 59)
    for pattern, start, end in _PARTS:
        if pattern.search(text):
            return start, end
    if _AFTER_WORK.search(text):
        return max(p.end for p in ctx.kb.center.hours.periods), dt.time(21, 0)
    return None


def _fits(spans: list[tuple[dt.time, dt.time]], start: dt.time, end: dt.time, exact: bool) -> bool:
    """A clock time fits when its 30 minutes lie within one period; a half-day when a period leaves 30
    minutes of it."""
    for p_start, p_end in spans:
        if exact and p_start <= start and end <= p_end:
            return True
        if not exact:
            lo, hi = max(start, p_start), min(end, p_end)
            if dt.datetime.combine(dt.date.min, hi) - dt.datetime.combine(dt.date.min, lo) >= SERVICE:
                return True
    return False


def check(ctx: Context, text: str) -> Check:
    now = ctx.clock.now()
    span = _span(ctx, text)
    day = parse_day(text, now.date())
    if day is None and span is None:
        return Check(True)  # nothing said we can read: the window agrees a time with the citizen
    start, end = span or (dt.time(0, 0), dt.time(23, 59))
    exact = parse_time(text) is not None
    days = [day] if day is not None else [now.date() + dt.timedelta(days=n) for n in range(7)]
    for d in days:
        if _fits(ctx.calendar.service_periods(d), start, end, exact):
            if d > now.date() or dt.datetime.combine(d, end, now.tzinfo) > now + SERVICE:
                return Check(True)
    wanted = dt.datetime.combine(day or now.date(), start, now.tzinfo)
    holiday = (ctx.calendar.day(day).holiday or "") if day is not None else ""
    return Check(False, nearest(ctx, wanted), holiday)


def nearest(ctx: Context, wanted: dt.datetime) -> tuple[dt.datetime, ...]:
    """The valid appointment times nearest to `wanted` (its time of day moved into each open period of
    the days around it), still to come, at most ALTERNATIVES, in order."""
    now = ctx.clock.now()
    first = max(now.date(), wanted.date() - dt.timedelta(days=7))
    found = []
    for n in range(LOOK_AHEAD + 8):
        day = first + dt.timedelta(days=n)
        for p_start, p_end in ctx.calendar.service_periods(day):
            latest = (dt.datetime.combine(day, p_end, wanted.tzinfo) - SERVICE).time()
            at = min(max(wanted.time(), p_start), latest)
            when = dt.datetime.combine(day, at, wanted.tzinfo)
            if when > now + SERVICE:
                found.append(when)
    found.sort(key=lambda w: (abs((w - wanted).total_seconds()), w))
    return tuple(sorted(set(found[:ALTERNATIVES])))


def label(when: dt.datetime) -> str:
    """11月28日09:00 (what 确认/改约 and the reminder read back)."""
    return f"{when.month}月{when.day}日{when:%H:%M}"


def reply_context(ctx: Context, wanted: str, result: Check) -> dict:
    """Template variables for appointments/outside_hours.txt."""
    names = "一二三四五六日"
    return {"wanted": wanted, "holiday": result.holiday, **ctx.hours_context(),
            "periods": [str(p).replace("-", "—") for p in ctx.kb.center.hours.periods],
            "alternatives": [(label(w), f"星期{names[w.weekday()]}") for w in result.alternatives]}


MAX_REFUSALS = 2  # a time outside hours is answered this often; then it is recorded for the window to agree another


def outside_hours(state: dict, ctx: Context) -> str:
    """The reply when the form's preferred time cannot be served (the time is dropped and asked again,
    the nearest valid times offered by number); '' when it can, or when the citizen was told twice."""
    form = state["form"]
    if "when" not in form or state.get("refused", 0) >= MAX_REFUSALS:
        return ""
    result = check(ctx, form["when"])
    if result.fits:
        return ""
    state["refused"] = state.get("refused", 0) + 1
    state["offered"] = [label(w) for w in result.alternatives]
    state["asking"] = "when"
    return ctx.render("appointments/outside_hours.txt", **reply_context(ctx, form.pop("when"), result))


def picked(state: dict, text: str) -> str | None:
    """One of the times offered, chosen by its number (1, 2, 3)."""
    offered = state.get("offered") or []
    text = text.strip().rstrip("。.")
    if text.isdigit() and 1 <= int(text) <= len(offered):
        return offered[int(text) - 1]
    return None
