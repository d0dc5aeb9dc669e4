"""The staff console under /staff/: sign-in, today's overview, records, bookings, knowledge, ratings and
exports. Every action calls the same operations as the WeChat commands (handlers.records, booking)."""
from __future__ import annotations

import csv
import datetime as dt
import hmac
import io
import secrets
from functools import wraps

from flask import (Blueprint, Response, abort, current_app, flash, g, redirect, request, session, url_for)

from bot.calendar_import import missing_years, preview, save
from bot.store.calendar import CalendarStore
from knowledge.holiday_notice import NoticeError
from handlers import booking, records
from handlers.privacy import mask_phones
from handlers.slots import Rules

bp = Blueprint("console", __name__, url_prefix="/staff")

MAX_FAILED_LOGINS = 5
ALL_RECORDS = ("leader", "admin")
ROLES = {"window": "窗口", "delegate": "代办员", "leader": "领导", "admin": "管理员"}


def ctx():
    return current_app.extensions["centerbot"]


def render(name: str, **values) -> str:
    me = g.get("staff")
    return ctx().render(f"console/{name}", me=me, csrf=session.get("csrf", ""), center=ctx().kb.center,
                        flashes=_flashes(), roles=ROLES, leader=bool(me) and sees_all(), **values)


def _flashes() -> list[str]:
    from flask import get_flashed_messages

    return get_flashed_messages()


# -- sign-in, CSRF, roles ------------------------------------------------------------------------
@bp.before_request
def guard():
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    if request.method == "POST":
        sent = request.form.get("csrf", "")
        if not sent or not hmac.compare_digest(sent, session["csrf"]):
            abort(400, "missing or wrong CSRF token")
    g.staff = ctx().store.staff(session["staff"]) if session.get("staff") else None
    if g.staff is None and request.endpoint != "console.login":
        return redirect(url_for("console.login"))


def sees_all() -> bool:
    return g.staff.get("role") in ALL_RECORDS or g.staff["name"] in ctx().kb.center.records.leaders


def may_see(record: dict) -> bool:
    return sees_all() or record.get("responder") == g.staff["name"]


def leader_only(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not sees_all():
            abort(403)
        return view(*args, **kwargs)
    return wrapper


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = ""
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        store = ctx().store
        who = f"{name}|{request.remote_addr}"  # per name and address: a stranger cannot lock staff out everywhere
        if store.failed_logins(who) >= MAX_FAILED_LOGINS:
            return Response(render("login.html", error="登录失败次数过多，请15分钟后再试。"), status=429)
        if store.check_password(name, request.form.get("password", "")):
            store.clear_failed_logins(who)
            session.clear()
            session["staff"] = name
            session["csrf"] = secrets.token_urlsafe(24)
            return redirect(url_for("console.today"))
        store.count_failed_login(who)
        error = "用户名或密码错误。"
    return render("login.html", error=error)


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("console.login"))


# -- today -------------------------------------------------------------------------------------------
def _open_records() -> list[dict]:
    store = ctx().store.records
    rows = [r for r in (store.get(no) for no in store.open_numbers()) if r]
    return [r for r in rows if may_see(r)]


@bp.get("/")
def today():
    c = ctx()
    now = c.clock.now()
    tomorrow = c.calendar.add_working_days(now.date(), 1)
    rows = _open_records()
    overdue = [r for r in rows if float(r["due"]) < now.timestamp()]
    due_tomorrow = [r for r in rows if _day(r["due"]) == tomorrow]
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        counts[(r["type"], r["status"])] = counts.get((r["type"], r["status"]), 0) + 1
    day_bookings = sorted(c.store.bookings.of_day(now.strftime("%Y%m%d")), key=lambda b: (b["resource"], b["start"]))
    staff = c.store.staff_list()
    away = {s["name"]: c.store.away_until(s["name"]) for s in staff}
    return render("today.html", now=now, counts=counts, missing_years=missing_years(c), overdue=overdue, due_tomorrow=due_tomorrow,
                  bookings=day_bookings, staff=staff, away=away, outbox=c.store.outbox_counts(),
                  failed=c.store.outbox_list("failed", 5), failed_jobs=c.store.jobs("failed")[-5:],
                  types=c.kb.center.records.types,
                  labels=records.STATUS_LABEL, resources=c.kb.resources, fmt=_fmt, ts=now.timestamp())


def _day(ts) -> dt.date:
    return dt.datetime.fromtimestamp(float(ts), ctx().clock.now().tzinfo).date()


def _fmt(ts, with_time: bool = True) -> str:
    if not ts:
        return ""
    at = dt.datetime.fromtimestamp(float(ts), ctx().clock.now().tzinfo)
    return at.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


# -- records ---------------------------------------------------------------------------------------
def _records_between(since: dt.date, until: dt.date) -> list[dict]:
    tz = ctx().clock.now().tzinfo
    start = dt.datetime.combine(since, dt.time(0), tz).timestamp()
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(0), tz).timestamp()
    store = ctx().store.records
    return [r for r in (store.get(no) for no in store.numbers_between(start, end)) if r and may_see(r)]


def _range() -> tuple[dt.date, dt.date]:
    today_ = ctx().clock.today()
    try:
        since = dt.date.fromisoformat(request.args.get("since") or (today_ - dt.timedelta(days=30)).isoformat())
        until = dt.date.fromisoformat(request.args.get("until") or today_.isoformat())
    except ValueError:
        abort(400, "dates are YYYY-MM-DD")
    return since, until


@bp.get("/records")
def record_list():
    since, until = _range()
    rows = _records_between(since, until)
    now = ctx().clock.timestamp()
    f = request.args
    if f.get("type"):
        rows = [r for r in rows if r["type"] == f["type"]]
    if f.get("status"):
        rows = [r for r in rows if r["status"] == f["status"]]
    if f.get("staff"):
        rows = [r for r in rows if r.get("responder") == f["staff"]]
    if f.get("overdue"):
        rows = [r for r in rows if r["status"] in records.OPEN and float(r["due"]) < now]
    filters = {k: f.get(k, "") for k in ("type", "status", "staff", "overdue")}
    return render("records.html", rows=rows, since=since, until=until, filters=filters, now=now,
                  types=ctx().kb.center.records.types, labels=records.STATUS_LABEL,
                  staff=ctx().store.staff_list(), fmt=_fmt, phone=_phone_for)


def _phone_for(record: dict) -> str:
    """The full phone for the assigned staff and the leaders; masked for everyone else."""
    phone = record.get("phone", "")
    return phone if (record.get("responder") == g.staff["name"] or sees_all()) else mask_phones(phone)


def _record_or_404(no: str) -> dict:
    record = ctx().store.records.get(no)
    if record is None:
        abort(404)
    if not may_see(record):
        abort(403)
    return record


@bp.get("/records/<no>")
def record_page(no: str):
    record = _record_or_404(no)
    c = ctx()
    return render("record.html", r=record, history=c.store.records.history(record["no"]),
                  kind=c.kb.center.records.types[record["type"]], labels=records.STATUS_LABEL,
                  staff=c.store.staff_list(), fmt=_fmt, phone=_phone_for(record),
                  reasons=records.TERMINATION_REASONS, open=record["status"] in records.OPEN)


ACTIONS = {
    "reply": lambda c, me, no, f: records.reply(c, me, no, f.get("text", "").strip()),
    "transfer": lambda c, me, no, f: records.transfer(c, me, no, f.get("to", "")),
    "extend": lambda c, me, no, f: records.extend(c, me, no, int(f.get("days") or 0), f.get("reason", "").strip()),
    "finish": lambda c, me, no, f: records.finish(c, me, no, f.get("result", "").strip()),
    "terminate": lambda c, me, no, f: records.terminate(c, me, no, f.get("reason", "").strip()),
    "take": lambda c, me, no, f: records.take(c, me, no),
}
LABELS = {"reply": "回复已发送给群众", "transfer": "已转办", "extend": "已延期", "finish": "已办结", "terminate": "已终止",
          "take": "已接单"}


@bp.post("/records/<no>/<action>")
def record_action(no: str, action: str):
    if action not in ACTIONS:
        abort(404)
    record = _record_or_404(no)
    form = request.form
    needed = {"reply": "text", "finish": "result", "terminate": "reason", "extend": "reason", "transfer": "to"}
    if action in needed and not form.get(needed[action], "").strip():
        flash("请填写内容后再提交。")
    elif action == "extend" and not form.get("days", "").isdigit():
        flash("延期天数须为数字。")
    else:
        try:
            ACTIONS[action](ctx(), g.staff, record["no"], form)
            flash(LABELS[action] + "。")
        except records.NotAllowed as why:
            flash(str(why))
    if not may_see(ctx().store.records.get(record["no"])):  # handed to someone else
        return redirect(url_for("console.record_list"))
    return redirect(url_for("console.record_page", no=record["no"]))


# -- bookings --------------------------------------------------------------------------------------
@bp.get("/bookings")
def bookings_week():
    c = ctx()
    today_ = c.clock.today()
    try:
        start = dt.date.fromisoformat(request.args.get("week") or today_.isoformat())
    except ValueError:
        abort(400, "week is YYYY-MM-DD")
    start -= dt.timedelta(days=start.weekday())
    days = [start + dt.timedelta(days=i) for i in range(7)]
    resource = c.kb.resources.get(request.args.get("resource", "")) or next(iter(c.kb.resources.values()))
    rules = Rules(resource, c.calendar, c.kb.center.hours)
    grid = []
    for day in days:
        slots = rules.slots(day)
        taken = c.store.bookings.seats_taken(resource.id, day.strftime("%Y%m%d"), [s.key for s in slots])
        grid.append((day, [(s, resource.capacity - taken[s.key]) for s in slots]))
    week_bookings = [b for day in days for b in c.store.bookings.of_day(day.strftime("%Y%m%d"))]
    pending = [b for b in week_bookings if b["status"] == "pending"]
    return render("bookings.html", resource=resource, resources=c.kb.resources, days=days, grid=grid,
                  bookings=sorted(week_bookings, key=lambda b: (b["date"], b["start"])), pending=pending,
                  prev=(start - dt.timedelta(days=7)).isoformat(), next=(start + dt.timedelta(days=7)).isoformat(),
                  mask=mask_phones, full=sees_all(), now=c.clock.timestamp())


@bp.post("/bookings/<code>/<action>")
def booking_action(code: str, action: str):
    verbs = {"approve": "同意", "decline": "拒绝", "no-show": "爽约"}
    if action not in verbs:
        abort(404)
    _, message = booking.decide(ctx(), g.staff, verbs[action], code.upper(), request.form.get("reason", "").strip())
    flash(message)
    return redirect(request.referrer or url_for("console.bookings_week"))


# -- the holiday calendar (leaders and administrators) ---------------------------------------------
@bp.get("/calendar")
@leader_only
def calendar_page():
    c = ctx()
    cals = CalendarStore(c.store)
    imported = {year: cals.year(year) for year in cals.years()}
    today_ = c.clock.today()
    years = [(y, c.calendar.known(y), y in imported) for y in range(today_.year, today_.year + 2)]
    return render("calendar.html", imported=imported, years=years, missing=missing_years(c), fmt=_fmt,
                  seen=None, error="", text="")


@bp.post("/calendar/preview")
@leader_only
def calendar_preview():
    text = request.form.get("text", "")
    try:
        seen = preview(ctx(), text)
    except NoticeError as exc:
        return Response(render("calendar.html", imported={}, years=[], missing=[], fmt=_fmt, seen=None,
                               error=f"{exc}。未保存任何内容，请修改后重新预览。", text=text), status=400)
    return render("calendar.html", imported={}, years=[], missing=[], fmt=_fmt, seen=seen, error="", text=text)


@bp.post("/calendar/save")
@leader_only
def calendar_save():
    text = request.form.get("text", "")
    try:
        seen = preview(ctx(), text)  # read again: what is saved is what the server reads, never a form field
    except NoticeError as exc:
        return Response(render("calendar.html", imported={}, years=[], missing=[], fmt=_fmt, seen=None,
                               error=f"{exc}。未保存任何内容。", text=text), status=400)
    if seen.replaces and request.form.get("replace") != "yes":
        return Response(render("calendar.html", imported={}, years=[], missing=[], fmt=_fmt, seen=seen,
                               error=f"{seen.year}年的安排已经导入过：请勾选“替换原有安排”后再保存。", text=text),
                        status=409)
    save(ctx(), seen, g.staff["name"])
    flash(f"已保存{seen.year}年的放假调休安排。受影响的预约和办件时限将由系统自动调整并通知群众。")
    return redirect(url_for("console.calendar_page"))


# -- knowledge, stats, export ------------------------------------------------------------------------
@bp.get("/knowledge")
def knowledge():
    c = ctx()
    since = c.clock.now() - dt.timedelta(days=30)
    from handlers.consult import notification

    previews = {m.id: notification(m, c) for m in c.kb.matters.values()}
    return render("knowledge.html", matters=list(c.kb.matters.values()), unanswered=c.store.unanswered(100),
                  previews=previews,
                  referrals=list(reversed(c.store.referrals(since.timestamp()))),
                  units={u.id: u.name for u in c.kb.center.units}, fmt=_fmt)


def _stats(rows: list[dict]) -> dict:
    ratings = {label: 0 for label in records.RATINGS}
    weeks: dict[str, list[int]] = {}
    people: dict[str, list[int]] = {}
    for r in rows:
        if r.get("rating_label") in ratings:
            ratings[r["rating_label"]] += 1
        if r["status"] in ("done", "terminated") and r.get("closed"):
            on_time = int(float(r["closed"]) <= float(r["due"]))
            week = _day(r["closed"]).strftime("%G-W%V")
            weeks.setdefault(week, [0, 0])
            weeks[week][0] += on_time
            weeks[week][1] += 1
            who = r.get("responder") or "—"
            people.setdefault(who, [0, 0])
            people[who][0] += on_time
            people[who][1] += 1
    return {"ratings": ratings, "weeks": dict(sorted(weeks.items())), "people": dict(sorted(people.items()))}


@bp.get("/stats")
@leader_only
def stats():
    since, until = _range()
    data = _stats(_records_between(since, until))
    return render("stats.html", since=since, until=until, **data)


EXPORTS = ("records", "bookings", "referrals", "ratings")


@bp.get("/export/<kind>.csv")
@leader_only
def export(kind: str):
    if kind not in EXPORTS:
        abort(404)
    since, until = _range()
    c = ctx()
    out = io.StringIO()
    out.write("\ufeff")  # a BOM, so Excel reads the Chinese as UTF-8
    w = csv.writer(out)
    if kind in ("records", "ratings"):
        rows = _records_between(since, until)
        if kind == "records":
            w.writerow(["编号", "类别", "状态", "登记时间", "时限", "办结时间", "首问责任人", "联系人", "电话", "内容", "结果"])
            for r in rows:
                w.writerow([r["no"], c.kb.center.records.types[r["type"]].label, records.STATUS_LABEL[r["status"]],
                            _fmt(r["created"]), _fmt(r["due"]), _fmt(r.get("closed")), r.get("responder", ""),
                            r.get("name", ""), r.get("phone", ""), r.get("content", ""), r.get("result", "")])
        else:
            w.writerow(["编号", "类别", "首问责任人", "评价", "原因"])
            for r in rows:
                if r.get("rating_label"):
                    w.writerow([r["no"], c.kb.center.records.types[r["type"]].label, r.get("responder", ""),
                                r["rating_label"], r.get("rating_reason", "")])
    elif kind == "bookings":
        w.writerow(["编号", "场地设备", "日期", "时间", "状态", "预约人", "电话"])
        day = since
        while day <= until:
            for b in c.store.bookings.of_day(day.strftime("%Y%m%d")):
                w.writerow([b["code"], c.kb.resources[b["resource"]].name, b["date"], f"{b['start']}-{b['end']}",
                            b["status"], b["name"], b["phone"]])
            day += dt.timedelta(days=1)
    else:
        tz = c.clock.now().tzinfo
        w.writerow(["时间", "类型", "转介单位", "原因", "问题"])
        units = {u.id: u.name for u in c.kb.center.units}
        start = dt.datetime.combine(since, dt.time(0), tz).timestamp()
        end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(0), tz).timestamp()
        for row in c.store.referrals(start, end):
            w.writerow([_fmt(row["time"]), row["kind"], units.get(row["unit"], row["unit"]), row["reason"],
                        row["question"]])
    name = f"{kind}-{since.isoformat()}-{until.isoformat()}.csv"
    return Response(out.getvalue().encode("utf-8"), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename={name}"})
