"""When the calendar changes (a notice imported), nothing stays wrong: bookings on a day that became
closed are cancelled with an apology and the nearest alternatives (the citizen and the resource's staff
told), open records whose due date moves get the new date (the citizen told) and their escalations move.

Run by the worker as the job {"kind": "calendar_changed", "version", "year", "changed": [days whose
working status flipped]}. Every effect is idempotent (a booking is cancelled once, a record's due date
moves once per version, messages carry dedup keys), so a job run twice does nothing new the second time.
"""
from __future__ import annotations

import datetime as dt

from handlers import booking, notify, records
from handlers.context import Context
from handlers.slots import Rules

REASON = "节假日安排调整"


def run(ctx: Context, job: dict) -> bool:
    ctx.calendar.refresh(force=True)  # the worker takes up the import now, not in two seconds
    changed = {dt.date.fromisoformat(d) for d in job.get("changed", [])}
    version = str(job.get("version", ""))
    cancelled = cancel_bookings(ctx, changed)
    moved = move_due_dates(ctx, changed, version)
    return bool(cancelled or moved)


# -- bookings on a day now closed ---------------------------------------------------------------------
def cancel_bookings(ctx: Context, changed: set[dt.date]) -> int:
    now = ctx.clock.now()
    done = 0
    for day in sorted(changed):
        if day < now.date() or ctx.calendar.is_workday(day):
            continue
        for found in ctx.store.bookings.of_day(day.strftime("%Y%m%d")):
            if found["status"] in booking.ACTIVE:
                ok, result = ctx.store.bookings.transition(found, booking.ACTIVE, "cancelled", free=True,
                                                           cancelled=now.timestamp(), reason=REASON)
                if not ok:
                    continue
                done += 1
            elif found["status"] == "cancelled" and found.get("reason") == REASON:
                result = found  # a second run: the messages again, which their dedup keys make no-ops
            else:
                continue
            _tell(ctx, result, now)
    return done


def _tell(ctx: Context, cancelled: dict, now: dt.datetime) -> None:
    resource = ctx.kb.resources.get(cancelled["resource"])
    if resource is None:
        return
    rules = Rules(resource, ctx.calendar, ctx.kb.center.hours)
    day = dt.date.fromisoformat(cancelled["date"])
    options = _nearest_days(rules, ctx, day, now)
    text = ctx.render("booking/calendar_cancelled.txt", b=cancelled, resource=resource,
                      info=ctx.calendar.day(day), days=options, center=ctx.kb.center)
    notify.citizen(ctx, cancelled["openid"], text, f"booking:{cancelled['code']}:calendar",
                   booking.booking_notice(cancelled, resource, "已取消", "booking"))
    booking._tell_staff(ctx, resource, "booking/staff_calendar_cancelled.txt", cancelled)
    booking.drop_jobs(ctx, cancelled)


def _nearest_days(rules: Rules, ctx: Context, day: dt.date, now: dt.datetime, limit: int = 3) -> list[dt.date]:
    """The bookable days with seats nearest to the day lost, before or after it."""
    days = [d for d in rules.next_days(now, limit=20) if booking.free_slots(rules, d, ctx, now)]
    return sorted(sorted(days, key=lambda d: (abs((d - day).days), d))[:limit])


# -- due dates ---------------------------------------------------------------------------------------------
def move_due_dates(ctx: Context, changed: set[dt.date], version: str) -> int:
    """Count a record's working days as the old calendar did, then again on the new one from the same
    start: the due date moves by exactly the days that changed in between (extensions included)."""
    if not changed:
        return 0
    moved = 0
    tz = ctx.clock.now().tzinfo
    for no in ctx.store.records.open_numbers():
        record = ctx.store.records.get(no)
        if record is None or record["status"] not in records.OPEN:
            continue
        once = f"calendar:{version}"
        if ctx.store.records.marked(no, once):  # moved by a run cut short: its messages and jobs again
            _moved(ctx, record, float(record.get("due_was", record["due"])), version)
            continue
        created = dt.datetime.fromtimestamp(float(record["created"]), tz)
        due = dt.datetime.fromtimestamp(float(record["due"]), tz)
        if not any(created.date() < d <= due.date() for d in changed):
            continue
        worked, day = 0, created.date()
        while day < due.date():
            day += dt.timedelta(days=1)
            worked += ctx.calendar.is_workday(day) != (day in changed)  # the old calendar's answer
        new_day = ctx.calendar.add_working_days(created.date(), worked) if worked else created.date()
        if new_day == due.date():
            continue
        new_due = dt.datetime.combine(new_day, due.time(), tz).timestamp()
        note = f"节假日安排调整，办理时限由{_cn(due.date())}调整为{_cn(new_day)}"
        done = ctx.store.records.update_once(no, once, {"due": new_due, "due_was": float(record["due"])},
                                             {"at": ctx.clock.timestamp(), "who": "系统", "action": "时限调整",
                                              "note": note}, when=lambda r: r["status"] in records.OPEN,
                                             due=new_due)
        if done == "applied":
            moved += 1
            _moved(ctx, ctx.store.records.get(no), float(record["due"]), version)
    return moved


def _moved(ctx: Context, record: dict, old_due: float, version: str) -> None:
    """The escalations follow the new due date; the citizen is told it."""
    tz = ctx.clock.now().tzinfo
    for kind in ("record_yellow", "record_red"):
        ctx.store.unschedule({"kind": kind, "no": record["no"], "due": old_due})
    records._schedule_deadlines(ctx, record)
    old = dt.datetime.fromtimestamp(old_due, tz).date()
    new = dt.datetime.fromtimestamp(float(record["due"]), tz).date()
    text = ctx.render("records/due_moved.txt", r=record, old=_cn(old), new=_cn(new))
    if record.get("openid"):
        records._tell(ctx, record, text, f"rec:{record['no']}:calendar:{version}", "时限调整")


def _cn(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"
