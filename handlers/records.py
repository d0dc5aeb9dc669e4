"""First-responder records (首问负责) and delegation cases (帮办代办): the one implementation of every
record operation (create, hand off, take, reply, transfer, finish, terminate, extend, 补正, rate,
escalate) behind the citizen's dialogue, the staff's WeChat commands, the worker and the console."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from handlers import duty, intent, names, notify
from handlers.clock import CST
from handlers.contact import PHONE
from handlers.context import Context
from handlers.privacy import mask_phones
from knowledge.schema import RecordType

FORM = "records.form"
RATE_REASON = "records.rate_reason"
OPEN = ("new", "in_progress", "awaiting_materials")
STATUS_LABEL = {"new": "待接单", "in_progress": "办理中", "awaiting_materials": "待补正材料", "done": "已办结",
                "terminated": "已终止"}
TERMINATION_REASONS = ("申请人提供的材料虚假", "不符合办理条件且无法补正", "应缴税费未缴纳", "申请人撤销",
                       "政策调整或不可抗力", "其他原因")
RATINGS = ("非常满意", "满意", "基本满意", "不满意", "非常不满意")
MAX_EXTENSION_DAYS = 30  # working days a staff member may extend a record by
MAX_LEADER_EXTENSION_DAYS = 250  # a leader may approve up to about a year

DELEGATE = intent.DELEGATE
CONDUCT = re.compile(r"(收了|收取了|要了|索要|拿了)[^，。,；;？?]{0,8}(钱|费|红包|礼|好处)|收我[^，。,；;？?]{0,8}(钱|费)"
                      r"|好处费|红包|礼金|吃拿卡要|乱收费|态度|刁难|推诿|不作为|骂人|辱骂")
# what a delegation request says besides its matter ("请你们帮我代办低保申请" -> "低保申请")
_DELEGATION_WORDS = re.compile(r"我要|我想|想请|请|麻烦|你们|您们|中心|帮我|替我|给我|帮忙|申请|办理|一下|服务|帮办|代办|"
                               r"帮.{0,2}办|代.{0,2}办|[，,。！!、\s]")


# -- dates ----------------------------------------------------------------------------------------------
def due_at(ctx: Context, days: int, start: dt.datetime | None = None) -> dt.datetime:
    """The close of business of the `days`-th working day after `start` (today for 0 days)."""
    start = start or ctx.clock.now()
    day = ctx.calendar.add_working_days(start.date(), days) if days else start.date()
    return dt.datetime.combine(day, ctx.kb.center.hours.periods[-1].end, start.tzinfo)


def add_working_minutes(ctx: Context, start: dt.datetime, minutes: int) -> dt.datetime:
    """`minutes` of opening time after `start`: 30 minutes at 17:20 ends at 9:20 of the next working day."""
    at, left = ctx.calendar.next_opening(start), dt.timedelta(minutes=minutes)
    while True:
        period = next(p for p in ctx.kb.center.hours.periods if p.start <= at.time() < p.end)
        end = dt.datetime.combine(at.date(), period.end, at.tzinfo)
        if at + left <= end:
            return at + left
        left -= end - at
        at = ctx.calendar.next_opening(end)


def timestamp_of(at: dt.datetime) -> float:
    return at.timestamp()


def day_text(ts: float) -> str:
    """The center's day of a time (China Standard Time, whatever the server's own time zone)."""
    d = dt.datetime.fromtimestamp(float(ts), CST)
    return f"{d.month}月{d.day}日"


# -- who handles it: handlers.duty (A, B1, B2, ..., the leaders; 回避) -----------------------------------
_ROLE_WORDS = re.compile(r"代办员|帮办员|窗口工作人员|窗口人员|工作人员|首问责任人|办事员|经办人")
_RECORD_NO = re.compile(r"[A-Z]{2}\d{8}-\d{4,}", re.I)


def named_staff(ctx: Context, text: str, openid: str = "") -> list[str]:
    """The staff members a complaint or report is about (回避): roster names in the text, or a role word
    with a record number (that record's handler); "代办员" without a number means the 代办员 of the
    citizen's own delegation cases."""
    cfg = ctx.kb.center.records
    names = {s["name"] for s in ctx.store.staff_list()} | set(cfg.leaders)
    names |= {n for _, holders, _ in duty.all_holders(ctx).values() for n in holders.chain}
    named = [n for n in sorted(names) if len(n) >= 2 and n in text]
    if _ROLE_WORDS.search(text):
        numbers = [m.upper() for m in _RECORD_NO.findall(text)]
        for no in numbers:
            record = ctx.store.records.get(no)
            if record and record.get("responder"):
                named.append(record["responder"])
        if not numbers and re.search(r"代办员|帮办员", text) and openid:
            named += [r["responder"] for r in ctx.store.records.of_user(openid)
                      if r["type"] == "delegation" and r.get("responder")]
    return list(dict.fromkeys(named))


def _tell(ctx: Context, record: dict, text: str, dedup: str, status: str, kind: str = "progress",
          at: float | None = None) -> bool:
    """A citizen's message about their record: a customer-service text, else the center's template or
    subscribe message showing the record's number, type, `status` (at most 5 Chinese characters) and time
    (`at`, e.g. an appointment's start; else now). False when the citizen cannot be reached on WeChat (a record registered by staff, or nothing
    configured reaches them now)."""
    label = ctx.kb.center.records.types[record["type"]].label if ctx.kb.center.records else "办件"
    matter = ctx.kb.matters.get(record.get("matter", ""))
    subject = ((f"{label}·{matter.name}", matter.name) if matter else ()) + (label,)
    notice = notify.Notice(number=record["no"], subject=subject, status=status,
                           time=ctx.clock.timestamp() if at is None else float(at),
                           hint=("回复“我的办件”查看详情",), kind=kind)
    return notify.citizen(ctx, record.get("openid", ""), text, dedup, notice)


def _tell_staff(ctx: Context, name: str, text: str, dedup: str, record: dict, status: str,
                kind: str = "progress") -> None:
    """A staff member's message about a record: a customer-service text, else (their 5 texts used or
    48 hours over) the center's template or subscribe message with the record's number, type, `status`
    and due time."""
    label = ctx.kb.center.records.types[record["type"]].label
    notice = notify.Notice(number=record["no"], subject=(label,), status=status, time=float(record["due"]),
                           hint=("回复“待办”查看详情",), kind=kind)
    notify.staff(ctx, name, text, dedup, notice)


def event(ctx: Context, who: str, action: str, note: str = "") -> dict[str, Any]:
    return {"at": ctx.clock.timestamp(), "who": who, "action": action, "note": note}


# -- creating and handing off --------------------------------------------------------------------------
def due_days_for(ctx: Context, kind_id: str, matter_id: str = "") -> int:
    """Working days to answer: a delegation case follows its matter's promised time limit when known."""
    matter = ctx.kb.matters.get(matter_id) if matter_id else None
    if kind_id in ("delegation", "application") and matter is not None and matter.time_limit.promised_days > 0:
        return matter.time_limit.promised_days
    return ctx.kb.center.records.types[kind_id].due_days


def create(ctx: Context, kind_id: str, openid: str, content: str, name: str, phone: str, idempotency: str,
           **extra: str) -> tuple[dict, bool]:
    """Register a record once, hand it to the first responder, tell the leaders, schedule escalations."""
    cfg = ctx.kb.center.records
    kind = cfg.types[kind_id]
    now = ctx.clock.now()
    member, _ = duty.responder_for(ctx, kind_id, extra.get("avoid") or (), extra)
    responder = member["name"] if member else ""
    days = due_days_for(ctx, kind_id, extra.get("matter", ""))
    extra.setdefault("days", str(days))
    due = due_at(ctx, days)
    no = ctx.store.records.next_number(kind.prefix, now.strftime("%Y%m%d"))
    fields = {"no": no, "type": kind_id, "status": "new", "openid": openid, "content": content[:1000],
              "name": name, "phone": phone, "responder": responder, "created": now.timestamp(),
              "due": timestamp_of(due), **extra}
    note = f"首问责任人：{responder or '领导'}"
    if extra.get("registered_by"):
        note = f"{extra.get('channel', '电话')}登记（{extra['registered_by']}）；{note}"
    got, created = ctx.store.records.create(no, fields, event(ctx, extra.get("registered_by") or "系统", "登记", note),
                                            timestamp_of(due), idempotency)
    record = ctx.store.records.get(got)
    if created or not ctx.store.records.marked(got, "registered"):
        # also when the request that created it died before telling and scheduling (WeChat's retry of
        # the same message comes here): every step is idempotent, so doing one twice changes nothing
        _announce(ctx, record, kind)
        ctx.store.records.mark(got, "registered")
    return record, created


def _announce(ctx: Context, record: dict, kind: RecordType) -> None:
    """A new record's hand-off, the leaders' summary and its scheduled takeover and escalations, all
    derived from the stored record so that a second run does exactly what the first did."""
    cfg = ctx.kb.center.records
    no, responder = record["no"], record.get("responder") or ""
    if record.get("registered_by") != responder:  # whoever took it down knows it already
        _hand_off(ctx, record, responder)
    if kind.leaders or not responder or record.get("avoid") or record.get("conduct"):
        text = ctx.render("records/leaders_summary.txt", r=record, kind=kind, phone=mask_phones(record.get("phone", "")),
                          due=day_text(record["due"]))
        for leader in cfg.leaders:
            if leader != responder:  # the leader handling it has the hand-off: one message per event
                _tell_staff(ctx, leader, text, f"rec:{no}:leaders", record, "新办件")
    if responder and duty.has_next(ctx, record, responder):
        created = dt.datetime.fromtimestamp(float(record["created"]), ctx.clock.now().tzinfo)
        ctx.store.schedule(_takeover_job(record, responder),
                           timestamp_of(add_working_minutes(ctx, created, cfg.takeover_minutes)))
    _schedule_deadlines(ctx, record)


def _takeover_job(record: dict, holder: str) -> dict:
    """The job that passes a record on when `holder` (A or a B holder) has not taken it in time (a job
    naming no holder, as earlier versions scheduled, is the A holder's)."""
    return {"kind": "record_takeover", "no": record["no"], "from": holder}


def _hand_off(ctx: Context, record: dict, to: str) -> None:
    kind = ctx.kb.center.records.types[record["type"]]
    text = ctx.render("records/handoff.txt", r=record, kind=kind, phone=mask_phones(record.get("phone", "")),
                      due=day_text(record["due"]), summary=record["content"][:60])
    _tell_staff(ctx, to, text, f"rec:{record['no']}:handoff:{to}", record, "待接单", kind="result")


def _schedule_deadlines(ctx: Context, record: dict) -> None:
    """Yellow at the opening of the working day before the due day; red at the due time itself."""
    due = dt.datetime.fromtimestamp(float(record["due"]), ctx.clock.now().tzinfo)
    prev = due.date() - dt.timedelta(days=1)
    while not ctx.calendar.is_workday(prev) and prev > ctx.clock.today():
        prev -= dt.timedelta(days=1)
    yellow = dt.datetime.combine(prev, ctx.kb.center.hours.periods[0].start, due.tzinfo)
    if ctx.clock.now() < yellow < due:
        ctx.store.schedule({"kind": "record_yellow", "no": record["no"], "due": record["due"]}, timestamp_of(yellow))
    ctx.store.schedule({"kind": "record_red", "no": record["no"], "due": record["due"]}, float(record["due"]))


def _unschedule_deadlines(ctx: Context, record: dict) -> None:
    """A closed record (or one whose due date moved) has no escalation left to run for that due date."""
    for kind in ("record_yellow", "record_red"):
        ctx.store.unschedule({"kind": kind, "no": record["no"], "due": record["due"]})
    if record["status"] not in OPEN:
        ctx.store.unschedule({"kind": "record_takeover", "no": record["no"]})
        for holder in duty.chain(ctx, record["type"], record):
            ctx.store.unschedule(_takeover_job(record, holder))


# -- records staff register (a phone call, a visit at the window: 首问负责 第四条) -------------------------
REGISTER_TYPES = {"投诉": "complaint", "举报": "report", "求助": "help", "咨询": "consultation", "留言": "consultation",
                  "建议": "suggestion", "意见": "suggestion", "来访": "visit", "参观": "visit", "代办": "delegation",
                  "帮办": "delegation"}


def register(ctx: Context, staff: dict, kind_id: str, name: str, phone: str, content: str, idempotency: str,
             channel: str = "电话", **more: str) -> dict:
    """A record a staff member takes down from a caller or visitor: the same numbering, responder, due
    date, hand-offs and escalations as one from WeChat; the citizen is answered by phone (the record
    says so), since their WeChat is unknown."""
    if kind_id not in ctx.kb.center.records.types or kind_id == "rectification":
        raise NotAllowed("登记类别须为：" + "、".join(dict.fromkeys(REGISTER_TYPES)) + "。")
    content = content.strip()[:1000]
    if not content:
        raise NotAllowed("请写明来电或来访的内容。")
    if name and name != "匿名" and names.read_name(name)[0] != name:
        raise NotAllowed(f"姓名须为真实姓名（{names.read_name(name)[1] or '请核对'}），或写“匿名”。")
    if phone and not PHONE.fullmatch(phone):
        raise NotAllowed(f"“{phone}”不像一个电话号码，请核对。")
    extra: dict[str, Any] = {"registered_by": staff["name"], "channel": channel, "callback": "1", **more}
    if kind_id == "delegation":
        found = delegated_matter(content, ctx)
        matter = found.id if found else ""
        mode = "帮办" if "帮办" in content else "代办"
        extra.update(matter=matter, mode=mode)
    if kind_id in ("complaint", "report"):
        avoid = named_staff(ctx, content)
        if avoid:
            extra["avoid"] = avoid
        if CONDUCT.search(content):
            extra["conduct"] = "1"
    record, _ = create(ctx, kind_id, "", content, name or "匿名", phone, f"staff:{staff['name']}:{idempotency}",
                       **extra)
    return record


# -- staff operations (WeChat commands and the console) ------------------------------------------------
class NotAllowed(Exception):
    """The staff member may not do this to this record; the message says why, politely."""


def _load_for(ctx: Context, staff: dict, no: str, open_only: bool = True) -> dict:
    record = ctx.store.records.get(no)
    if record is None:
        raise NotAllowed(f"没有找到编号为 {no.upper()} 的记录。")
    leaders = set(ctx.kb.center.records.leaders)
    if record.get("responder") != staff["name"] and staff["name"] not in leaders and staff.get("role") != "leader":
        raise NotAllowed(f"{record['no']} 由{record.get('responder') or '领导'}负责，您不能操作。")
    if open_only and record["status"] not in OPEN:
        raise NotAllowed(f"{record['no']} {STATUS_LABEL[record['status']]}，不能再操作。")
    return record


def take(ctx: Context, staff: dict, no: str) -> dict:
    record = _load_for(ctx, staff, no)
    now = ctx.clock.timestamp()
    ctx.store.records.update(record["no"], {"status": "in_progress", "taken": now, "responder": staff["name"]},
                             event(ctx, staff["name"], "接单"), staff=record.get("responder", ""),
                             new_staff=staff["name"])
    template = "records/delegation_accepted.txt" if record["type"] == "delegation" else "records/taken.txt"
    _tell(ctx, record, ctx.render(template, r=record, staff=staff), f"rec:{record['no']}:taken", "已受理")
    return ctx.store.records.get(record["no"])


def resume(ctx: Context, staff: dict, no: str) -> dict:
    """Materials complete after a 补正 notice: the case is handled again (办理中)."""
    record = _load_for(ctx, staff, no)
    ctx.store.records.update(record["no"], {"status": "in_progress"}, event(ctx, staff["name"], "材料齐全，办理中"))
    _tell(ctx, record, ctx.render("records/resumed.txt", r=record), f"rec:{record['no']}:resumed", "办理中")
    return ctx.store.records.get(record["no"])


def reply(ctx: Context, staff: dict, no: str, text: str) -> dict:
    record = _load_for(ctx, staff, no)
    n = len(ctx.store.records.history(record["no"]))
    ctx.store.records.update(record["no"], {}, event(ctx, staff["name"], "回复", text))
    reached = _tell(ctx, record, ctx.render("records/reply.txt", r=record, text=text),
                    f"rec:{record['no']}:reply:{n}", "有新答复", kind="result")
    if not reached:
        ctx.store.records.update(record["no"], {"callback": "1"},
                                 event(ctx, "系统", "未能通过微信送达", "请电话回复群众"))
    elif record.get("callback"):
        ctx.store.records.update(record["no"], {"callback": ""}, event(ctx, "系统", "已通过微信送达"))
    return ctx.store.records.get(record["no"])


def transfer(ctx: Context, staff: dict, no: str, to: str) -> dict:
    record = _load_for(ctx, staff, no)
    if ctx.store.staff(to) is None:
        raise NotAllowed(f"没有名为 {to} 的工作人员。")
    if to in (record.get("avoid") or ()):
        raise NotAllowed(f"{record['no']} 反映的是{to}本人的问题，按回避规定不能转给{to}办理。")
    ctx.store.records.update(record["no"], {"responder": to, "status": "new"},
                             event(ctx, staff["name"], "转办", f"转给{to}"), staff=record.get("responder", ""),
                             new_staff=to)
    record = ctx.store.records.get(record["no"])
    _hand_off(ctx, record, to)
    _tell(ctx, record, ctx.render("records/transferred.txt", r=record), f"rec:{record['no']}:to:{to}", "已转办")
    return record


def finish(ctx: Context, staff: dict, no: str, result: str) -> dict:
    record = _load_for(ctx, staff, no)
    ctx.store.records.update(record["no"], {"status": "done", "result": result, "closed": ctx.clock.timestamp()},
                             event(ctx, staff["name"], "办结", result), staff=record.get("responder", ""), close=True)
    record = ctx.store.records.get(record["no"])
    _unschedule_deadlines(ctx, record)
    if record["openid"]:
        ctx.store.records.ask_rating(record["openid"], record["no"])
        _tell(ctx, record, ctx.render("records/finished.txt", r=record, ratings=RATINGS),
              f"rec:{record['no']}:done", "已办结", kind="result")
    return record


def terminate(ctx: Context, staff: dict, no: str, reason: str) -> dict:
    record = _load_for(ctx, staff, no)
    if record["type"] == "delegation":
        picked = reason.strip()
        if picked.isdigit() and 1 <= int(picked) <= len(TERMINATION_REASONS):
            reason = TERMINATION_REASONS[int(picked) - 1]
        elif not any(reason.startswith(r) for r in TERMINATION_REASONS):
            raise NotAllowed("代办终止须写明规定的原因，请回复“终止 编号 序号”：\n" + "\n".join(
                f"{i}. {r}" for i, r in enumerate(TERMINATION_REASONS, 1)))
    ctx.store.records.update(record["no"], {"status": "terminated", "reason": reason,
                                            "closed": ctx.clock.timestamp()},
                             event(ctx, staff["name"], "终止", reason), staff=record.get("responder", ""), close=True)
    record = ctx.store.records.get(record["no"])
    _unschedule_deadlines(ctx, record)
    _tell(ctx, record, ctx.render("records/terminated.txt", r=record), f"rec:{record['no']}:terminated", "已终止",
          kind="result")
    return record


WITHDRAWN = TERMINATION_REASONS[3]


def withdraw(ctx: Context, openid: str, no: str) -> tuple[dict | None, str]:
    """The applicant withdraws their own open delegation case (终止代办：申请人撤销), and the 代办员 is told.
    (record or None, the reply); anything not theirs, unknown or finished changes nothing."""
    record = ctx.store.records.get(no)
    if record is None or record.get("openid") != openid:
        return None, ctx.render("records/not_found.txt", no=no.upper())
    if record["type"] != "delegation":
        return None, ctx.render("records/withdraw_refused.txt", r=record, why="kind")
    if record["status"] not in OPEN:
        return None, ctx.render("records/withdraw_refused.txt", r=record, why="closed",
                                label=STATUS_LABEL[record["status"]])
    done = ctx.store.records.update_once(
        record["no"], "withdrawn", {"status": "terminated", "reason": WITHDRAWN, "closed": ctx.clock.timestamp()},
        event(ctx, "群众", "终止", WITHDRAWN), when=lambda r: r["status"] in OPEN,
        staff=record.get("responder", ""), close=True)
    if done == "skipped":
        return None, ctx.render("records/withdraw_refused.txt", r=record, why="closed", label="已结束")
    record = ctx.store.records.get(record["no"])
    _unschedule_deadlines(ctx, record)
    text = ctx.render("records/withdrawn_staff.txt", r=record, phone=mask_phones(record.get("phone", "")))
    _tell_staff(ctx, record.get("responder", ""), text, f"rec:{record['no']}:withdrawn", record, "已撤销",
                kind="result")
    return record, ctx.render("records/withdrawn.txt", r=record)


# -- 延期: the staff member asks, a leader decides -------------------------------------------------
def is_leader(ctx: Context, staff: dict) -> bool:
    return staff.get("role") in ("leader", "admin") or staff["name"] in ctx.kb.center.records.leaders


def extension_limit(ctx: Context, staff: dict) -> int:
    """The most working days `staff` may extend a record by: 30 for staff; more for leaders."""
    return MAX_LEADER_EXTENSION_DAYS if is_leader(ctx, staff) else MAX_EXTENSION_DAYS


def extend(ctx: Context, staff: dict, no: str, days: int, reason: str) -> dict:
    """Ask for an extension of `days` working days; it takes effect when a leader approves it (a leader's
    own extension takes effect at once). The citizen hears of it, with the reason, only once approved."""
    limit = extension_limit(ctx, staff)
    if not 1 <= days <= limit:
        raise NotAllowed(f"延期天数须为1至{limit}个工作日。" + (
            "" if limit > MAX_EXTENSION_DAYS else f"确需延期超过{limit}个工作日的，请报中心领导审批。"))
    record = _load_for(ctx, staff, no)
    if is_leader(ctx, staff):
        return _apply_extension(ctx, record, days, reason, staff["name"], staff["name"])
    if record.get("extension"):
        pending = record["extension"]
        raise NotAllowed(f"{record['no']} 已有一项延期申请（{pending['days']}个工作日）正等待领导审批，请勿重复申请。")
    request = {"days": days, "reason": reason, "by": staff["name"], "at": ctx.clock.timestamp()}
    ctx.store.records.update(record["no"], {"extension": request},
                             event(ctx, staff["name"], "申请延期", f"{days}个工作日：{reason}"))
    record = ctx.store.records.get(record["no"])
    text = ctx.render("records/extension_request.txt", r=record, x=request, due=day_text(record["due"]))
    for leader in ctx.kb.center.records.leaders:
        _tell_staff(ctx, leader, text, f"rec:{record['no']}:extreq:{request['at']}", record, "待审批")
    return record


def decide_extension(ctx: Context, staff: dict, no: str, approve: bool, note: str = "") -> dict:
    """A leader approves or declines the pending extension of a record, once."""
    if not is_leader(ctx, staff):
        raise NotAllowed("延期须由中心领导审批，您不能操作。")
    record = _load_for(ctx, staff, no)
    pending = record.get("extension")
    if not pending:
        raise NotAllowed(f"{record['no']} 没有待审批的延期申请。")
    if approve:
        return _apply_extension(ctx, record, int(pending["days"]), pending["reason"], pending["by"], staff["name"],
                                once=f"ext:{pending['at']}")
    done = ctx.store.records.update_once(record["no"], f"ext:{pending['at']}", {"extension": ""},
                                         event(ctx, staff["name"], "不同意延期", note))
    if done == "applied":
        _tell_staff(ctx, pending["by"], ctx.render("records/extension_declined.txt", r=record, x=pending, note=note,
                                                   leader=staff["name"]), f"rec:{record['no']}:extno:{pending['at']}",
                    record, "延期未批", kind="result")
    return ctx.store.records.get(record["no"])


def _apply_extension(ctx: Context, record: dict, days: int, reason: str, asked_by: str, approved_by: str,
                     once: str | None = None) -> dict:
    old_due = dt.datetime.fromtimestamp(float(record["due"]), ctx.clock.now().tzinfo)
    due = timestamp_of(due_at(ctx, days, old_due))
    note = f"{days}个工作日：{reason}" + (f"（{approved_by}批准）" if approved_by != asked_by else "")
    once = once or f"ext:self:{ctx.clock.timestamp()}"
    done = ctx.store.records.update_once(record["no"], once, {"due": due, "extension": ""},
                                         event(ctx, approved_by, "延期", note), when=lambda r: r["status"] in OPEN,
                                         due=due)
    if done == "skipped":
        raise NotAllowed(f"{record['no']} 已结束，不能再延期。")
    _unschedule_deadlines(ctx, record)  # the jobs of the old due date
    record = ctx.store.records.get(record["no"])
    _schedule_deadlines(ctx, record)
    _tell(ctx, record, ctx.render("records/extended.txt", r=record, days=days, reason=reason,
                                  due=day_text(record["due"])), f"rec:{record['no']}:extended:{record['due']}", "已延期")
    if asked_by != approved_by:
        _tell_staff(ctx, asked_by, ctx.render("records/extension_approved.txt", r=record, days=days,
                                              leader=approved_by, due=day_text(record["due"])),
                    f"rec:{record['no']}:extok:{record['due']}", record, "延期获批")
    return record


def correction(ctx: Context, staff: dict, no: str, items: list[str]) -> tuple[dict, bool]:
    """The one 补正 notice of a delegation case: every missing item at once. A second is refused with the
    rule as the reason. (record, whether the notice reached the citizen on WeChat)."""
    record = _load_for(ctx, staff, no)
    items = [i for i in items if i][:30]
    if not items:
        raise NotAllowed("请写明需补正的材料，例如：补正 编号 户口簿复印件、收入证明。")
    if record.get("missing"):
        raise NotAllowed(f"{record['no']} 已于补正告知中一次性列出：{'、'.join(record['missing'])}。"
                         "按一次性告知制度，不能再次发出补正通知；如确有遗漏，请报领导后当面或电话向申请人说明。")
    done = ctx.store.records.update_once(record["no"], "correction",
                                         {"status": "awaiting_materials", "missing": items},
                                         event(ctx, staff["name"], "补正告知", "、".join(items)),
                                         when=lambda r: not r.get("missing") and r["status"] in OPEN)
    if done == "skipped":
        raise NotAllowed(f"{record['no']} 的补正告知已经发出，不能再次发出。")
    record = ctx.store.records.get(record["no"])
    matter = ctx.kb.matters.get(record.get("matter", ""))
    reached = _tell(ctx, record, ctx.render("records/correction.txt", r=record, items=items, matter=matter),
                    f"rec:{record['no']}:correction", "需补正材料")
    if not reached:
        ctx.store.records.update(record["no"], {"callback": "1"},
                                 event(ctx, "系统", "补正告知未能通过微信送达", "请电话告知申请人"))
    return record, reached


# -- scheduled escalations (the worker) ----------------------------------------------------------------
def run_job(ctx: Context, job: dict) -> bool:
    """Carry out a record job; False when the record moved on and the job no longer applies, or when a
    previous run already did it.

    The record change is made once per job (`update_once`), however often the job runs; its messages
    are queued with dedup keys whenever the change is known to be made, so a run cut short between the
    change and its messages (a killed worker) has them queued by the next run, and only once."""
    record = ctx.store.records.get(job["no"])
    if record is None:
        return False
    kind = ctx.kb.center.records.types[record["type"]]
    if job["kind"] == "record_takeover":
        return _take_over(ctx, record, job)

    def applies(r: dict) -> bool:  # still open, and the due date was not extended (a newer job stands)
        return r["status"] in OPEN and float(job.get("due", 0)) == float(r["due"])

    color = "yellow" if job["kind"] == "record_yellow" else "red"
    done = ctx.store.records.update_once(record["no"], f"{color}:{job.get('due')}", {color: ctx.clock.timestamp()},
                                         event(ctx, "系统", "黄牌预警" if color == "yellow" else "红牌超期"),
                                         when=applies)
    if done == "skipped":
        return False
    record = ctx.store.records.get(record["no"])
    text = ctx.render(f"records/{color}.txt", r=record, kind=kind, due=day_text(job["due"]))
    _tell_staff(ctx, record.get("responder", ""), text, f"rec:{record['no']}:{color}:{job['due']}", record,
                "即将到期" if color == "yellow" else "已超期", kind="progress" if color == "yellow" else "result")
    if color == "red":
        for leader in ctx.kb.center.records.leaders:
            if leader != record.get("responder"):  # one message per event
                _tell_staff(ctx, leader, text, f"rec:{record['no']}:escalate:{job['due']}", record, "已超期",
                            kind="result")
    return done == "applied"


def _take_over(ctx: Context, record: dict, job: dict) -> bool:
    """The holder did not take the record in time: it passes to the next B holder in order on duty, else
    a leader (回避 kept), who is handed it and given the same time in turn."""
    names = duty.chain(ctx, record["type"], record)
    holder = job.get("from") or (names[0] if names else "")
    to, leader = duty.next_after(ctx, record, holder)
    if to is None:
        return False
    action, name = ("转领导" if leader else "转B岗"), to["name"]  # 转领导: no B holder left to take it

    def applies(r: dict) -> bool:
        return r["status"] == "new" and r.get("responder") == holder

    done = ctx.store.records.update_once(record["no"], f"takeover:{holder}" if job.get("from") else "takeover",
                                         {"responder": name, "passed": ctx.clock.timestamp()},
                                         event(ctx, "系统", action, f"{holder}未在时限内接单"),
                                         when=applies, staff=holder, new_staff=name)
    if done != "skipped":  # also when a worker died after the change: the same hand-off and next job
        record = ctx.store.records.get(record["no"])
        name = record["responder"]
        _hand_off(ctx, record, name)
        if name in names and duty.has_next(ctx, record, name):
            start = dt.datetime.fromtimestamp(float(record["passed"]), ctx.clock.now().tzinfo)
            ctx.store.schedule(_takeover_job(record, name), timestamp_of(
                add_working_minutes(ctx, start, ctx.kb.center.records.takeover_minutes)))
    return done == "applied"


def delegated_matter(text: str, ctx: Context):
    """The matter a delegation request names, if any ("帮我代办低保申请，我腿脚不方便" is 低保): the whole
    request, then each clause, without the words of asking; the delegation service itself is none."""
    clauses = [text] + [c for c in re.split(r"[，,。；;！!？?\s]+", text) if len(c) >= 2]
    for clause in clauses:
        rest = _DELEGATION_WORDS.sub("", clause)
        if len(rest) < 2:
            continue
        result = ctx.matcher.match(rest)
        if result.outcome not in ("answer", "ask") or not result.candidates:
            continue
        best = result.candidates[0].matter
        if _is_delegation_service(best):
            continue
        if result.outcome == "ask" and len(result.candidates) > 1 and ctx.matcher.find_by_name(rest) is None \
                and len(rest) > 8:
            continue
        return best
    return None


def _is_delegation_service(matter) -> bool:
    return bool(DELEGATE.search(matter.name)) or "帮办代办" in matter.category
