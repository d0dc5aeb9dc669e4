"""The staff console under /staff/: sign-in, today's overview, records, bookings, knowledge, ratings and
exports. Every action calls the same operations as the WeChat commands (handlers.records, booking)."""
from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from functools import wraps

import redis
from flask import (Blueprint, Response, abort, current_app, flash, g, redirect, request, session, url_for)

from bot.calendar_import import missing_years, preview, save
from bot.console_sessions import staff_stamp
from bot.exports import csv_bytes
from bot.store.calendar import CalendarStore
from knowledge.holiday_notice import NoticeError
from handlers import applications, appointments, booking, booking_staff, duty, records
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
    if getattr(session, "unavailable", False):
        raise redis.ConnectionError("console sessions unavailable")  # answered 503 by the app
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    if request.method == "POST":
        sent = request.form.get("csrf", "")
        if not sent or not hmac.compare_digest(sent, session["csrf"]):
            abort(400, "missing or wrong CSRF token")
    g.staff = _signed_in()
    if g.staff is None and request.endpoint != "console.login":
        return redirect(url_for("console.login"))


def _signed_in() -> dict | None:
    """The member this session was granted to, while their role and password are what they were at
    sign-in and they are on the roster; otherwise the session ends here (revoked)."""
    if not session.get("staff"):
        return None
    member = ctx().store.staff(session["staff"])
    if member is None or not hmac.compare_digest(staff_stamp(member), session.get("stamp", "")):
        session.clear()
        session.rotate()  # the old id ends here, for whoever holds a copy of it
        session["csrf"] = secrets.token_urlsafe(24)
        return None
    return member


def sees_all() -> bool:
    return g.staff.get("role") in ALL_RECORDS or g.staff["name"] in ctx().kb.center.records.leaders


def may_see(record: dict) -> bool:
    return sees_all() or g.staff["name"] in (record.get("responder"), record.get("registered_by"))


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
            session.rotate()  # a new id: one planted before sign-in is worth nothing
            session["staff"] = name
            session["stamp"] = staff_stamp(store.staff(name))
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
    away = {s["name"]: max((e for b, e in c.store.away_periods(s["name"]) if b <= now.timestamp() < e), default=0)
            for s in staff}
    extensions = [r for r in rows if r.get("extension")]
    return render("today.html", now=now, counts=counts, missing_years=missing_years(c), overdue=overdue,
                  due_tomorrow=due_tomorrow, extensions=extensions,
                  bookings=day_bookings, staff=staff, away=away, outbox=c.store.outbox_counts(),
                  failed=c.store.outbox_list("failed", 5), failed_jobs=c.store.jobs("failed")[-5:],
                  types=c.kb.center.records.types, uncovered=duty.uncovered(c),
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


class BadRequest(Exception):
    """A request the console refuses with a polite page and status 400 (the message says why)."""


@bp.errorhandler(BadRequest)
def bad_request(why: BadRequest):
    return Response(render("error.html", message=str(why)), status=400)


MAX_RANGE_DAYS = 400  # a date range (filters, statistics, exports) spans at most this many days
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2099, 12, 31)


def _date_arg(name: str, default: dt.date) -> dt.date:
    text = (request.args.get(name) or "").strip()
    try:
        day = dt.date.fromisoformat(text) if text else default
    except ValueError:
        raise BadRequest("日期格式应为“年-月-日”，例如 2026-11-23，请修改后再查询。") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadRequest(f"日期 {day.isoformat()} 超出可查询的范围（{FIRST_DAY.year}年至{LAST_DAY.year}年），请修改后再查询。")
    return day


def _range() -> tuple[dt.date, dt.date]:
    """The `since` and `until` dates of a request: within the years the center keeps, in order, at
    most MAX_RANGE_DAYS apart (a larger range would read every record and booking for nothing)."""
    today_ = ctx().clock.today()
    since = _date_arg("since", today_ - dt.timedelta(days=30))
    until = _date_arg("until", today_)
    if since > until:
        raise BadRequest("开始日期晚于结束日期，请修改后再查询。")
    if (until - since).days + 1 > MAX_RANGE_DAYS:
        raise BadRequest(f"一次最多查询{MAX_RANGE_DAYS}天，请缩小日期范围后再查询或分段导出。")
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
                  staff=ctx().store.staff_list(), fmt=_fmt, phone=lambda r: mask_phones(r.get("phone", "")))


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


@bp.route("/records/new", methods=["GET", "POST"])
def record_new():
    """A record taken down from a phone call or a visit (首问负责 第四条): the same numbering, responder,
    due date and hand-offs as one from WeChat."""
    c = ctx()
    types = {k: t for k, t in c.kb.center.records.types.items() if k != "rectification"}
    form = request.form
    if request.method == "POST":
        kind = form.get("type", "")
        try:
            record = records.register(c, g.staff, kind, form.get("name", "").strip()[:20],
                                      form.get("phone", "").strip()[:20], form.get("content", "")[:1000],
                                      form.get("nonce", "")[:64] or secrets.token_hex(8),
                                      channel="来访" if form.get("channel") == "来访" else "电话")
        except records.NotAllowed as why:
            flash(str(why))
            return Response(render("record_new.html", types=types, form=form, nonce=form.get("nonce", "")), status=400)
        flash(f"已登记 {record['no']}，首问责任人{record.get('responder') or '中心领导'}；群众未使用微信，答复时请电话联系。")
        return redirect(url_for("console.record_page", no=record["no"]))
    return render("record_new.html", types=types, form={}, nonce=secrets.token_hex(8))


@bp.route("/applications/new", methods=["GET", "POST"])
def application_new():
    """A window application (办件): accepted, with its printable 承诺通知单, or refused with the reason."""
    c = ctx()
    form = request.form
    if request.method == "POST":
        key = form.get("nonce", "")[:64] or secrets.token_hex(8)
        name, phone = form.get("name", "").strip()[:20], form.get("phone", "").strip()[:20]
        try:
            if form.get("decision") == "refuse":
                record = applications.refuse(c, g.staff, form.get("matter", ""), name, phone,
                                             form.get("reason", "")[:300], key)
            else:
                record = applications.accept(c, g.staff, form.get("matter", ""), name, phone, key)
        except records.NotAllowed as why:
            flash(str(why))
            return Response(render("application_new.html", matters=c.kb.matters, form=form, nonce=form.get("nonce", "")),
                            status=400)
        flash(f"已登记 {record['no']}，请打印书面通知交群众。")
        return redirect(url_for("console.record_page", no=record["no"]))
    return render("application_new.html", matters=c.kb.matters, form={}, nonce=secrets.token_hex(8))


@bp.get("/records/<no>")
def record_page(no: str):
    record = _record_or_404(no)
    c = ctx()
    return render("record.html", r=record, history=c.store.records.history(record["no"]),
                  kind=c.kb.center.records.types[record["type"]], labels=records.STATUS_LABEL,
                  staff=c.store.staff_list(), fmt=_fmt, phone=_phone_for(record),
                  reasons=records.TERMINATION_REASONS, open=record["status"] in records.OPEN,
                  approver=records.is_leader(c, g.staff), max_days=records.extension_limit(c, g.staff),
                  notice=applications.notice_url(c, record) if record["type"] == "application" else "")


ACTIONS = {
    "reply": lambda c, me, no, f: records.reply(c, me, no, f.get("text", "").strip()),
    "transfer": lambda c, me, no, f: records.transfer(c, me, no, f.get("to", "")),
    "extend": lambda c, me, no, f: records.extend(c, me, no, int(f["days"].strip()), f.get("reason", "").strip()),
    "finish": lambda c, me, no, f: records.finish(c, me, no, f.get("result", "").strip()),
    "terminate": lambda c, me, no, f: records.terminate(c, me, no, f.get("reason", "").strip()),
    "take": lambda c, me, no, f: records.take(c, me, no),
    "confirm": lambda c, me, no, f: appointments.confirm(c, me, no, f.get("when", "").strip()[:40]),
    "propose": lambda c, me, no, f: appointments.confirm(c, me, no, f.get("when", "").strip()[:40], propose=True),
    "approve-extension": lambda c, me, no, f: records.decide_extension(c, me, no, True),
    "decline-extension": lambda c, me, no, f: records.decide_extension(c, me, no, False, f.get("note", "").strip()[:200]),
}
LABELS = {"confirm": "已确认预约时间并通知群众", "propose": "已向群众提出另约时间",
          "reply": "回复已发送给群众", "transfer": "已转办", "extend": "已延期", "finish": "已办结", "terminate": "已终止",
          "take": "已接单", "approve-extension": "已批准延期，已告知群众延期原因", "decline-extension": "已驳回延期申请"}


@bp.post("/records/<no>/<action>")
def record_action(no: str, action: str):
    if action not in ACTIONS:
        abort(404)
    record = _record_or_404(no)
    form = request.form
    needed = {"propose": "when", "reply": "text", "finish": "result", "terminate": "reason", "extend": "reason", "transfer": "to"}
    if action in needed and not form.get(needed[action], "").strip():
        flash("请填写内容后再提交。")
    elif action == "extend" and not re.fullmatch(r"[0-9]{1,6}", form.get("days", "").strip()):
        flash("延期天数须为数字（工作日）。")
    else:
        try:
            done = ACTIONS[action](ctx(), g.staff, record["no"], form)
            if action == "extend" and done.get("extension"):
                flash("延期申请已提交，待中心领导审批。")
            elif action == "reply" and done.get("callback"):
                flash(f"回复已记录；群众未能通过微信收到，请电话回复：{_phone_for(done) or '未留电话'}。")
            else:
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
    start = _date_arg("week", today_)
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
                  mask=mask_phones, full=sees_all(), now=c.clock.timestamp(),
                  can_decide=lambda b: booking_staff.may_decide(c, g.staff, c.kb.resources[b["resource"]]))


@bp.route("/bookings/new", methods=["GET", "POST"])
def booking_new():
    """A booking made by staff for a caller (no WeChat): the same rules and the same seat count."""
    c = ctx()
    form = request.form
    if request.method == "POST":
        ok, message = booking.book_for_caller(c, g.staff, form.get("resource", ""), form.get("date", ""),
                                              form.get("start", ""), form.get("name", "").strip()[:20],
                                              form.get("phone", "").strip()[:20], form.get("nonce", "")[:64])
        flash(message)
        if ok:
            return redirect(url_for("console.bookings_week", resource=form.get("resource"), week=form.get("date")))
        return Response(render("booking_new.html", resources=c.kb.resources, form=form, nonce=form.get("nonce", "")),
                        status=400)
    return render("booking_new.html", resources=c.kb.resources, form={}, nonce=secrets.token_hex(8))


@bp.post("/bookings/<code>/<action>")
def booking_action(code: str, action: str):
    verbs = {"approve": "同意", "decline": "拒绝", "no-show": "爽约"}
    if action not in verbs:
        abort(404)
    _, message = booking_staff.decide(ctx(), g.staff, verbs[action], code.upper(), request.form.get("reason", "").strip())
    flash(message)
    back = request.referrer or ""
    return redirect(back if back.startswith(request.host_url + "staff/") else url_for("console.bookings_week"))


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
    for row in ctx().store.ratings.between(*_span(since, until)):  # bookings are rated too
        if row["label"] in data["ratings"]:
            data["ratings"][row["label"]] += 1
    return render("stats.html", since=since, until=until, **data)


def _span(since: dt.date, until: dt.date) -> tuple[float, float]:
    tz = ctx().clock.now().tzinfo
    return (dt.datetime.combine(since, dt.time(0), tz).timestamp(),
            dt.datetime.combine(until + dt.timedelta(days=1), dt.time(0), tz).timestamp())


@bp.get("/export/<kind>.csv")
@leader_only
def export(kind: str):
    if kind not in EXPORTS:
        abort(404)
    since, until = _range()
    c = ctx()
    header, rows = EXPORTS[kind](c, since, until)
    name = f"{kind}-{since.isoformat()}-{until.isoformat()}.csv"
    return Response(csv_bytes(header, rows), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename={name}"})


def _export_records(c, since: dt.date, until: dt.date):
    header = ["编号", "类别", "状态", "登记时间", "时限", "办结时间", "首问责任人", "联系人", "电话", "内容", "结果"]
    return header, ([r["no"], c.kb.center.records.types[r["type"]].label, records.STATUS_LABEL[r["status"]],
                     _fmt(r["created"]), _fmt(r["due"]), _fmt(r.get("closed")), r.get("responder", ""),
                     r.get("name", ""), r.get("phone", ""), r.get("content", ""), r.get("result", "")]
                    for r in _records_between(since, until))


def _export_ratings(c, since: dt.date, until: dt.date):
    header = ["编号", "类别", "首问责任人", "评价", "原因"]

    def rows():
        for r in _records_between(since, until):
            if r.get("rating_label"):
                yield [r["no"], c.kb.center.records.types[r["type"]].label, r.get("responder", ""),
                       r["rating_label"], r.get("rating_reason", "")]
        for row in c.store.ratings.between(*_span(since, until)):  # bookings are rated too
            yield [row["ref"], "预约", "", row["label"], row.get("reason", "")]
    return header, rows()


def _export_bookings(c, since: dt.date, until: dt.date):
    def rows():
        day = since
        while day <= until:
            for b in c.store.bookings.of_day(day.strftime("%Y%m%d")):
                yield [b["code"], c.kb.resources[b["resource"]].name, b["date"], f"{b['start']}-{b['end']}",
                       b["status"], b["name"], b["phone"]]
            day += dt.timedelta(days=1)
    return ["编号", "场地设备", "日期", "时间", "状态", "预约人", "电话"], rows()


def _export_referrals(c, since: dt.date, until: dt.date):
    tz = c.clock.now().tzinfo
    units = {u.id: u.name for u in c.kb.center.units}
    start = dt.datetime.combine(since, dt.time(0), tz).timestamp()
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(0), tz).timestamp()
    return ["时间", "类型", "转介单位", "原因", "问题"], (
        [_fmt(row["time"]), row["kind"], units.get(row["unit"], row["unit"]), row["reason"], row["question"]]
        for row in c.store.referrals(start, end))


EXPORTS = {"records": _export_records, "bookings": _export_bookings, "referrals": _export_referrals,
           "ratings": _export_ratings}
