"""The console's staff roster (leaders and admins): members, roles and passwords; the A holder and the
ordered B holders of every record type and window (AB岗); away periods; and the warning when A and every
B of a post would be away at once. Changes are in Redis, so every process uses them at once."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, g, redirect, request, url_for

from bot.console import ROLES, ctx, guard, leader_only, render
from bot.store.staff import PASSWORD_MIN, PASSWORD_RULE_ZH, PasswordRefused
from handlers import duty

bp = Blueprint("console_roster", __name__, url_prefix="/staff/kb")
bp.before_request(guard)  # the console's sign-in, CSRF token and session

MAX_B = 10  # B holders one post may list
MAX_AWAY_DAYS = 366  # how far ahead an away period may be planned


def _name(field: str = "name") -> str:
    return request.form.get(field, "").strip()[:20]


def _day_text(ts: float, tz) -> str:
    return dt.datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d")


def _warn_uncovered(c) -> None:
    """Flash every post A and every B of which are away together within the next 30 days, with the days."""
    by_days: dict[str, list[str]] = {}
    for gap in duty.uncovered(c):
        by_days.setdefault(gap["text"], []).append(gap["label"])
    for days, labels in by_days.items():
        flash(f"注意：{'、'.join(labels)}的A岗和B岗{days}都不在岗，这期间将转给领导，请调整外出安排或增加B岗。")


@bp.get("/staff")
@leader_only
def roster():
    c = ctx()
    members = c.store.staff_list()
    on_roster = {m["name"] for m in members}
    now = c.clock.timestamp()
    tz = c.clock.now().tzinfo
    posts = duty.all_holders(c)
    holds: dict[str, list[str]] = {}
    for label, holders, _ in posts.values():
        if holders.a:
            holds.setdefault(holders.a, []).append(f"{label}A岗")
        for i, name in enumerate(holders.b, 1):
            holds.setdefault(name, []).append(f"{label}B{i}岗" if len(holders.b) > 1 else f"{label}B岗")
    periods = {m["name"]: [(s, e) for s, e in c.store.away_periods(m["name"]) if e > now] for m in members}
    return render("kb_staff.html", password_min=PASSWORD_MIN, members=members, holds=holds, now=now, periods=periods, posts=posts,
                  on_roster=on_roster, uncovered=duty.uncovered(c), horizon=duty.HORIZON_DAYS,
                  day=lambda ts: _day_text(ts, tz), max_b=MAX_B)


@bp.post("/staff/add")
@leader_only
def staff_add():
    c = ctx()
    name, openid, role = _name(), request.form.get("openid", "").strip()[:64], request.form.get("role", "window")
    backup = _name("backup")
    if not name or not openid or role not in ROLES:
        flash("请填写姓名、微信openid和角色。")
    elif backup and c.store.staff(backup) is None:
        flash(f"没有名为“{backup}”的工作人员，不能作为替岗人。")
    else:
        c.store.add_staff(name, openid, role=role, backup=backup)
        password = request.form.get("password", "")
        if password and not _set_password(c, name, password):
            flash(f"{PASSWORD_RULE_ZH}，未设置。")
        flash(f"已保存工作人员“{name}”。")
    return redirect(url_for("console_roster.roster"))


def _set_password(c, name: str, password: str) -> bool:
    """Set a console password by the store's one rule (bot.store.staff.PASSWORD_RULE); False when it breaks it."""
    try:
        c.store.set_password(name, password)
    except PasswordRefused:
        return False
    return True


@bp.post("/staff/remove")
@leader_only
def staff_remove():
    c = ctx()
    name = _name()
    held = [label for label, holders, _ in duty.all_holders(c).values() if name in holders.chain]
    if held:
        flash(f"“{name}”是{'、'.join(held)}的A/B岗，请先在下方“AB岗”中换人后再删除。")
    elif name == g.staff["name"]:
        flash("不能删除自己。")
    elif c.store.remove_staff(name):
        flash(f"已删除工作人员“{name}”。")
    return redirect(url_for("console_roster.roster"))


@bp.post("/staff/password")
@leader_only
def staff_password():
    c = ctx()
    name, password = _name(), request.form.get("password", "")
    if c.store.staff(name) is None:
        abort(404)
    if _set_password(c, name, password):
        flash(f"已为“{name}”设置新密码。")
    else:
        flash(f"{PASSWORD_RULE_ZH}，未修改。")
    return redirect(url_for("console_roster.roster"))


def _date(field: str) -> dt.date | None:
    return dt.date.fromisoformat(request.form.get(field, "").strip())


@bp.post("/staff/away")
@leader_only
def staff_away():
    """An away period (请假、出差): from a day (or now) to the end of a day; with no end day, back now
    (the period going on ends; planned ones stay). Warns when a post is left with nobody."""
    c = ctx()
    name = _name()
    if c.store.staff(name) is None:
        abort(404)
    now, tz = c.clock.timestamp(), c.clock.now().tzinfo
    if not request.form.get("until", "").strip():
        for start, end in c.store.away_periods(name):
            if start <= now < end:
                c.store.remove_away(name, start, end)
        flash(f"“{name}”已回岗。")
        return redirect(url_for("console_roster.roster"))
    try:
        last = _date("until")
        first = _date("from") if request.form.get("from", "").strip() else None
    except ValueError:
        flash("日期格式应为 2026-12-31。")
        return redirect(url_for("console_roster.roster"))
    today = c.clock.today()
    if last < today or (first and first > last) or (last - today).days > MAX_AWAY_DAYS:
        flash(f"外出日期须在今天至{MAX_AWAY_DAYS}天内，且开始日期不晚于结束日期。")
        return redirect(url_for("console_roster.roster"))
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tz).timestamp()
    start = dt.datetime.combine(first, dt.time(0), tz).timestamp() if first and first > today else 0.0
    c.store.add_away(name, start, end)
    flash(f"“{name}”外出" + (f"{first.isoformat()}至" if start else "至") + f"{last.isoformat()}。")
    _warn_uncovered(c)
    return redirect(url_for("console_roster.roster"))


@bp.post("/staff/away/cancel")
@leader_only
def staff_away_cancel():
    c = ctx()
    name = _name()
    try:
        start, end = float(request.form.get("start", "")), float(request.form.get("end", ""))
    except ValueError:
        abort(400)
    if c.store.remove_away(name, start, end):
        flash(f"已取消“{name}”的一次外出。")
    return redirect(url_for("console_roster.roster"))


def _post(c) -> tuple[str, str]:
    """The form's post (a record type or a window) and its label; 404 for one the center does not have."""
    post = request.form.get("post", "")[:80]
    posts = duty.posts(c)
    if post not in posts:
        abort(404)
    return post, posts[post][0]


@bp.post("/staff/holders")
@leader_only
def staff_holders():
    """Set a post's A holder and its B holders in order; live at once for every process."""
    c = ctx()
    post, label = _post(c)
    a = _name("a") or None
    b = [n.strip()[:20] for n in request.form.getlist("b")[:MAX_B] if n.strip()]
    holders, why = duty.check(c, a, b)
    if holders is None:
        flash(f"{label}的AB岗未修改：{why}")
        return redirect(url_for("console_roster.roster"))
    c.store.set_holders(post, holders.a, holders.b)
    flash(f"已设定{label}：A岗{holders.a or '（领导）'}" + (f"，B岗依次为{'、'.join(holders.b)}" if holders.b else "，无B岗")
          + "，立即生效。")
    _warn_uncovered(c)
    return redirect(url_for("console_roster.roster"))


@bp.post("/staff/holders/reset")
@leader_only
def staff_holders_reset():
    c = ctx()
    post, label = _post(c)
    if c.store.reset_holders(post):
        flash(f"{label}的AB岗已恢复为 center.yaml 中的设定。")
    _warn_uncovered(c)
    return redirect(url_for("console_roster.roster"))
