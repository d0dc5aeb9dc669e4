"""The keeper's desk in the console (/staff/kb/, leaders and admins): edit, add and retire matters with
the notification preview and WeChat's 2048-byte check before saving, the change history with who and
when, and the revert of one change. Every change goes through bot.store.knowledge (validated with the whole
base first, refused when the matter changed since it was opened) and reaches every process live."""
from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, request, url_for
from pydantic import ValidationError

from bot import kb_live
from bot.console import ctx, guard, leader_only, render
from bot.store.knowledge import Conflict
from bot.store.staff import PASSWORD_MIN, PASSWORD_RULE_ZH, PasswordRefused
from handlers.render import WECHAT_TEXT_LIMIT, utf8_len
from handlers.consult import notification
from knowledge.importer import new_id
from knowledge.loader import KnowledgeError
from knowledge.schema import ELEMENT_LABELS, Matter

bp = Blueprint("console_kb", __name__, url_prefix="/staff/kb")
bp.before_request(guard)  # the console's sign-in, CSRF token and session

FORMS = ("原件", "复印件", "原件及复印件", "电子件", "填写表格", "")
TYPES = ("即办件", "承诺件", "上报件", "联办件")
BLANK_MATERIALS = 3  # empty material rows offered for additions
MAX_FIELD = 4000
MAX_MATERIALS = 60


def _kstore():
    settings = current_app.config["SETTINGS"]
    return kb_live.stores(settings, ctx().store.r)[0]


def _lines(name: str) -> list[str]:
    return [line.strip() for line in request.form.get(name, "")[:MAX_FIELD].splitlines() if line.strip()]


def _text(name: str) -> str:
    return request.form.get(name, "")[:MAX_FIELD].strip()


def _int(name: str) -> int | None:
    value = _text(name)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return -1  # refused by the schema with a message naming the field


def matter_from_form(matter_id: str, current: Matter | None) -> dict[str, Any]:
    """The matter as the form states it (every element; materials row by row)."""
    materials = []
    for i in range(MAX_MATERIALS):
        name = request.form.get(f"mat-{i}-name", "")[:200].strip()
        if not name:
            continue
        copies = request.form.get(f"mat-{i}-copies", "1").strip() or "1"
        materials.append({
            "name": name, "form": request.form.get(f"mat-{i}-form", ""),
            "copies": int(copies) if copies.isdigit() else -1,
            "required": request.form.get(f"mat-{i}-required") == "on",
            "note": request.form.get(f"mat-{i}-note", "")[:500].strip(),
            "how_to_get": request.form.get(f"mat-{i}-how", "")[:500].strip()})
    data = {
        "id": matter_id, "name": _text("name"), "aliases": _lines("aliases"), "keywords": _lines("keywords"),
        "summary": _text("summary"), "category": _text("category"), "department": _text("department"),
        "window": _text("window"), "type": _text("type"), "legal_basis": _lines("legal_basis"),
        "conditions": _lines("conditions"), "materials": materials, "procedure": _lines("procedure"),
        "time_limit": {"legal_days": _int("legal_days"), "promised_days": _int("promised_days"),
                       "note": _text("time_note")},
        "fee": {"free": request.form.get("fee_free") == "on", "items": _lines("fee_items"),
                "basis": _text("fee_basis")},
        "where": _text("where"), "phone": _text("phone"), "note": _text("note"), "code": _text("code"),
        "audience": _text("audience"), "office_hours": _text("office_hours"),
        "supervision_phone": _text("supervision_phone"),
        "unknown": [e for e in ELEMENT_LABELS if request.form.get(f"unknown-{e}") == "on"],
    }
    if current is not None:  # what the form does not show is kept
        data["joint_departments"] = [d.model_dump(mode="json") for d in current.joint_departments]
    return data


def _errors(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(map(str, e['loc'])) or '事项'}: {e['msg']}" for e in exc.errors()]


BLANK_MATERIAL = {"name": "", "form": "原件", "copies": 1, "required": True, "note": "", "how_to_get": ""}
EMPTY = {"id": "", "name": "", "aliases": [], "keywords": [], "summary": "", "category": "", "department": "",
         "window": "", "type": "承诺件", "legal_basis": [], "conditions": [], "materials": [], "procedure": [],
         "where": "", "phone": "", "note": "", "code": "", "audience": "", "office_hours": "",
         "supervision_phone": "", "unknown": []}


def _filled(matter: dict[str, Any]) -> dict[str, Any]:
    """Every key the form shows, so a new or half-filled matter renders."""
    out = EMPTY | {k: v for k, v in matter.items() if v is not None}
    out["time_limit"] = {"legal_days": None, "promised_days": None, "note": ""} | (matter.get("time_limit") or {})
    out["fee"] = {"free": True, "items": [], "basis": ""} | (matter.get("fee") or {})
    out["materials"] = [BLANK_MATERIAL | m for m in out["materials"]] + [BLANK_MATERIAL] * BLANK_MATERIALS
    return out


def _page(matter: dict[str, Any], rev: int, is_new: bool, errors=(), preview=None, status: int = 200):
    c = ctx()
    matter = _filled(matter)
    body = render("matter_edit.html", m=matter, rev=rev, is_new=is_new, errors=list(errors), preview=preview,
                  windows=c.kb.center.windows, forms=FORMS, types=TYPES, elements=ELEMENT_LABELS,
                  blank=BLANK_MATERIALS, limit=WECHAT_TEXT_LIMIT)
    return Response(body, status=status)


def _preview(matter: Matter) -> dict[str, Any]:
    reply = notification(matter, ctx())
    parts = [reply.text, *reply.followups]
    full = "\n".join(parts)
    return {"parts": parts, "bytes": [utf8_len(p) for p in parts], "full_bytes": utf8_len(full),
            "fits": len(parts) == 1}


@bp.get("/")
@leader_only
def index():
    c = ctx()
    return render("kb_index.html", matters=list(c.kb.matters.values()), center_made=c.kb.center_made,
                  retired=c.kb.retired, version=c.kb.version)


@bp.route("/matters/<matter_id>", methods=["GET", "POST"])
@bp.route("/new", methods=["GET", "POST"], defaults={"matter_id": ""})
@leader_only
def edit(matter_id: str):
    c = ctx()
    is_new = not matter_id
    kstore = _kstore()
    rev, raw = (0, "") if is_new else kstore.entry(matter_id)
    current = None if is_new else c.kb.matters.get(matter_id)
    if raw:  # saved by the center: the newest version, even before this process reloads
        current = None if raw == "null" else Matter.model_validate(json.loads(raw))
    if not is_new and current is None:
        abort(404)
    if request.method == "GET":
        data = current.model_dump(mode="json") if current else {
            "id": "", "name": "", "window": c.kb.center.windows[0].id, "type": "承诺件", "materials": [],
            "time_limit": {"promised_days": None}, "fee": {"free": True}, "unknown": []}
        return _page(data, rev, is_new)
    rev = int(request.form.get("rev", "0") or 0)
    data = matter_from_form(matter_id or new_id("", _text("name") or "new"), current)
    try:
        matter = Matter.model_validate(data)
    except ValidationError as exc:
        return _page(data, rev, is_new, errors=_errors(exc), status=400)
    preview = _preview(matter)
    if request.form.get("action") != "save":
        return _page(data, rev, is_new, preview=preview)
    if not preview["fits"] and request.form.get("split_ok") != "on":
        return _page(data, rev, is_new, preview=preview, status=400, errors=[
            f"告知内容共{preview['full_bytes']}字节，超过微信单条{WECHAT_TEXT_LIMIT}字节，将分{len(preview['parts'])}条发送："
            f"请精简，或勾选“同意分条发送”后再保存。"])
    if is_new and matter.id in c.kb.matters:
        return _page(data, rev, is_new, status=409, errors=[f"已有同名事项“{matter.name}”。"])
    settings = current_app.config["SETTINGS"]
    try:
        change = kstore.commit({matter.id: matter.model_dump(mode="json")}, g.staff["name"],
                               f"{'新增' if is_new else '修改'}事项“{matter.name}”", validate=kb_live.validator(settings),
                               expect={matter.id: rev})
    except Conflict:
        return _page(data, rev, is_new, status=409, errors=[
            "保存失败：您打开此页后，其他人已修改了这个事项。您的修改没有保存；请重新打开此事项，在最新内容上修改。"])
    except KnowledgeError as exc:
        return _page(data, rev, is_new, status=400, errors=exc.problems)
    flash(f"已保存（第{change.n}次修改），几秒内生效。")
    return redirect(url_for("console_kb.edit", matter_id=matter.id))


@bp.post("/matters/<matter_id>/retire")
@leader_only
def retire(matter_id: str):
    c = ctx()
    matter = c.kb.matters.get(matter_id)
    if matter is None:
        abort(404)
    kstore = _kstore()
    settings = current_app.config["SETTINGS"]
    try:  # a tombstone: it hides a YAML matter of that id too, and a revert brings the matter back
        change = kstore.commit({matter_id: None}, g.staff["name"], f"停用事项“{matter.name}”",
                               validate=kb_live.validator(settings))
    except KnowledgeError as exc:
        flash("停用失败：" + "；".join(exc.problems[:3]))
        return redirect(url_for("console_kb.edit", matter_id=matter_id))
    flash(f"已停用“{matter.name}”（第{change.n}次修改），可在修改记录中撤销。")
    return redirect(url_for("console_kb.index"))


@bp.get("/history")
@leader_only
def history():
    changes = _kstore().changes(100)
    tz = ctx().clock.now().tzinfo

    def when(ts: float) -> str:
        return dt.datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M")

    return render("kb_history.html", changes=changes, when=when)


@bp.post("/history/<int:n>/revert")
@leader_only
def revert(n: int):
    settings = current_app.config["SETTINGS"]
    try:
        change = _kstore().revert(n, g.staff["name"], validate=kb_live.validator(settings))
    except KeyError:
        abort(404)
    except Conflict:
        flash(f"无法撤销第{n}次修改：其中的事项之后又被修改过，请先撤销后来的修改。")
        return redirect(url_for("console_kb.history"))
    except KnowledgeError as exc:
        flash("撤销后知识库将不合规，未撤销：" + "；".join(exc.problems[:3]))
        return redirect(url_for("console_kb.history"))
    flash(f"已撤销第{n}次修改（记为第{change.n}次修改），几秒内生效。")
    return redirect(url_for("console_kb.history"))


# -- what citizens asked -------------------------------------------------------------------------------
@bp.get("/asked")
@leader_only
def asked():
    from bot.store.asked import MARKS

    which = request.args.get("mark", "")
    marks = {which} if which in MARKS else ({"none", "runner_up", "unsure", "unanswered"} if which == "queue" else None)
    rows = ctx().store.asked.recent(200, marks)
    c = ctx()
    tz = c.clock.now().tzinfo
    names = {m.id: m.name for m in c.kb.matters.values()}
    for r in rows:
        r.setdefault("chosen", "")
        r["answer"] = names.get(r["matter"], r["matter"]) if r["matter"] else \
            ("、".join(names.get(i, i) for i in r["choices"][:3]) or "—")
    return render("kb_asked.html", rows=rows, marks=MARKS, which=which, names=names,
                  matters=sorted(c.kb.matters.values(), key=lambda m: m.name),
                  when=lambda ts: dt.datetime.fromtimestamp(float(ts), tz).strftime("%m-%d %H:%M"))


@bp.post("/asked/<entry_id>/file")
@leader_only
def file_question(entry_id: str):
    """File a citizen's question under a matter as one of its ways of asking (a keyword)."""
    c = ctx()
    entry = c.store.asked.get(entry_id)
    given = request.form.get("matter", "").strip()[:200]
    if entry is None:
        abort(404)
    matter_id = given if given in c.kb.matters else next((m.id for m in c.kb.matters.values() if m.name == given), "")
    kstore = _kstore()
    rev, raw = kstore.entry(matter_id)
    current = c.kb.matters.get(matter_id)
    if raw and raw != "null":
        current = Matter.model_validate(json.loads(raw))
    if current is None:
        flash("请选择一个事项。")
        return redirect(url_for("console_kb.asked"))
    # the clauses that held a name or a number say nothing of the matter: they are left out
    words = "，".join(c.strip() for c in re.split(r"[，,。；;！!？?]", entry["question"]) if c.strip() and "[" not in c)
    if not words:
        flash("这个问题去掉个人信息后没有内容，未归入。")
        return redirect(url_for("console_kb.asked"))
    data = current.model_dump(mode="json")
    if words not in data["keywords"]:
        data["keywords"].append(words)
    settings = current_app.config["SETTINGS"]
    try:
        change = kstore.commit({matter_id: data}, g.staff["name"], f"问法“{words}”归入“{current.name}”",
                               validate=kb_live.validator(settings), expect={matter_id: rev})
    except (Conflict, KnowledgeError) as exc:
        flash(f"未能归入：{exc}")
        return redirect(url_for("console_kb.asked"))
    c.store.asked.filed(entry_id, matter_id)
    flash(f"已将“{words}”归入“{current.name}”（第{change.n}次修改），几秒内生效。")
    return redirect(url_for("console_kb.asked", mark=request.args.get("mark", "")))


# -- the staff roster ----------------------------------------------------------------------------------
ROLES = {"window": "窗口", "delegate": "代办员", "leader": "领导", "admin": "管理员"}


def _holders() -> dict[str, tuple[str, str]]:
    """Record type label -> (A holder, B holder) from center.yaml."""
    records = ctx().kb.center.records
    if records is None:
        return {}
    return {t.label: (t.a or "", t.b or "") for t in records.types.values()}


def uncovered(away: dict[str, float], at: float) -> list[str]:
    """The record types whose A holder and every B holder are away at `at` (nobody takes them)."""
    out = []
    for label, (a, b) in _holders().items():
        people = [p for p in (a, b) if p]
        if people and all(away.get(p, 0) > at for p in people):
            out.append(label)
    return out


@bp.get("/staff")
@leader_only
def roster():
    c = ctx()
    members = c.store.staff_list()
    now = c.clock.timestamp()
    away = {m["name"]: c.store.away_until(m["name"]) for m in members}
    tz = c.clock.now().tzinfo
    holds: dict[str, list[str]] = {}
    for label, (a, b) in _holders().items():
        if a:
            holds.setdefault(a, []).append(f"{label}A岗")
        if b:
            holds.setdefault(b, []).append(f"{label}B岗")
    return render("kb_staff.html", password_min=PASSWORD_MIN, members=members, holds=holds, now=now,
                  away={k: v for k, v in away.items() if v > now}, uncovered=uncovered(away, now),
                  day=lambda ts: dt.datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d"))


def _name() -> str:
    return request.form.get("name", "").strip()[:20]


@bp.post("/staff/add")
@leader_only
def staff_add():
    c = ctx()
    name, openid, role = _name(), request.form.get("openid", "").strip()[:64], request.form.get("role", "window")
    backup = request.form.get("backup", "").strip()[:20]
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
    return redirect(url_for("console_kb.roster"))


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
    held = [label for label, pair in _holders().items() if name in pair]
    if held:
        flash(f"“{name}”是{'、'.join(held)}的A/B岗，请先在配置中换人后再删除。")
    elif name == g.staff["name"]:
        flash("不能删除自己。")
    elif c.store.remove_staff(name):
        flash(f"已删除工作人员“{name}”。")
    return redirect(url_for("console_kb.roster"))


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
    return redirect(url_for("console_kb.roster"))


@bp.post("/staff/away")
@leader_only
def staff_away():
    """Away until the end of a day (请假、出差), or back now; warns when a record type is left uncovered."""
    c = ctx()
    name, until = _name(), request.form.get("until", "").strip()
    if c.store.staff(name) is None:
        abort(404)
    if not until:
        c.store.set_away(name, None)
        flash(f"“{name}”已回岗。")
        return redirect(url_for("console_kb.roster"))
    try:
        day = dt.date.fromisoformat(until)
    except ValueError:
        flash("日期格式应为 2026-12-31。")
        return redirect(url_for("console_kb.roster"))
    tz = c.clock.now().tzinfo
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tz).timestamp()
    c.store.set_away(name, end)
    flash(f"“{name}”外出至{day.isoformat()}。")
    members = c.store.staff_list()
    away = {m["name"]: c.store.away_until(m["name"]) for m in members}
    left = uncovered(away, c.clock.timestamp())
    if left:
        flash(f"注意：{'、'.join(left)}的A岗和B岗都不在岗，这类记录将无人接收，请安排其他人员。")
    return redirect(url_for("console_kb.roster"))
