"""First-responder records (首问负责) and delegation cases (帮办代办): the one implementation of every
record operation (create, hand off, take, reply, transfer, finish, terminate, extend, 补正, rate,
escalate) behind the citizen's dialogue, the staff's WeChat commands, the worker and the console."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from handlers import center, intent, names, notify
from handlers.contact import PHONE
from handlers.context import Context
from handlers.message import Message, Reply
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

_VISIT = r"记者|媒体|采访|来访参观|考察团|代表团|参观考察|考察学习|学习考察|来中心参观|想来参观|参观学习"
_TRIGGERS = [("visit", re.compile(_VISIT)), ("consultation", re.compile(r"^(我要|我想)?留言")),
             ("report", re.compile(r"举报")), ("complaint", re.compile(r"投诉|态度|乱收费|推诿|不作为|刁难|服务差|踢皮球|推来推去")),
             ("suggestion", re.compile(r"建议|意见")), ("help", re.compile(r"求助|帮帮|救救|反映|坏了|没人管|没人修"))]
_START = intent.RECORD_START
_LEAD = re.compile(intent.RECORD_LEAD.pattern + "|" + _VISIT)
_DELEGATE = intent.DELEGATE
_MINE = intent.RECORDS_MINE
_QUERY = intent.RECORD_QUERY
_CONDUCT = re.compile(r"(收了|收取了|要了|索要|拿了)[^，。,；;？?]{0,8}(钱|费|红包|礼|好处)|收我[^，。,；;？?]{0,8}(钱|费)"
                      r"|好处费|红包|礼金|吃拿卡要|乱收费|态度|刁难|推诿|不作为|骂人|辱骂")
_ACCUSE = re.compile(r"^(我要|我想|我来)?(投诉|举报)")  # "投诉代办员…" is a complaint, not a delegation request
_STAFF_WORDS = re.compile(r"代办员|工作人员|窗口|办事员|干部|领导|帮办员|首问")
_WITHDRAW_NO = re.compile(r"^(?:撤销|撤回|取消)(?:代办|帮办|委托|办件)?\s*([A-Z]{2}\d{8}-\d{4,})$", re.I)
_WITHDRAW_WORDS = re.compile(r"(撤销|撤回|取消|不用|不要|不需要|不想)(让|请|麻烦|叫)?(你们|您们|中心)?(帮我|给我|替我)?(再)?"
                             r"(代办|帮办|委托)"
                             r"|(代办|帮办|委托)(申请)?(我)?(不办了|不要了|不用了|不需要了|撤销|撤回|取消)")
# what a delegation request says besides its matter ("请你们帮我代办低保申请" -> "低保申请")
_DELEGATION_WORDS = re.compile(r"我要|我想|想请|请|麻烦|你们|您们|中心|帮我|替我|给我|帮忙|申请|办理|一下|服务|帮办|代办|"
                               r"帮.{0,2}办|代.{0,2}办|[，,。！!、\s]")
_ANONYMOUS = re.compile(r"^(匿名|不留名|不想留名|不方便留名|不说)$")


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


def _ts(at: dt.datetime) -> float:
    return at.timestamp()


def _date(ts: float) -> str:
    d = dt.datetime.fromtimestamp(float(ts))
    return f"{d.month}月{d.day}日"


# -- who handles it -------------------------------------------------------------------------------------
def _present(ctx: Context, name: str | None) -> dict | None:
    member = ctx.store.staff(name) if name else None
    if member and ctx.store.away_until(name) <= ctx.clock.timestamp():
        return member
    return None


def holders(kind: RecordType, record: dict | None = None) -> tuple[str | None, str | None]:
    """The A and B holders of a record: its own (a window's, for an appointment) or its type's."""
    if record and record.get("a"):
        return record["a"], record.get("b") or None
    return kind.a, kind.b


def responder_for(ctx: Context, kind: RecordType, avoid: list[str] | tuple = (),
                  record: dict | None = None) -> tuple[dict | None, bool]:
    """The A holder on duty, else B, else a leader: (staff member, whether it is the A holder). No one
    named in `avoid` (回避: the staff a complaint is about) is chosen."""
    a_name, b_name = holders(kind, record)
    a = _present(ctx, a_name) if a_name not in avoid else None
    if a:
        return a, True
    b = _present(ctx, b_name) if b_name not in avoid else None
    if b:
        return b, False
    for name in ctx.kb.center.records.leaders:
        leader = _present(ctx, name) if name not in avoid else None
        if leader:
            return leader, False
    return None, False


_ROLE_WORDS = re.compile(r"代办员|帮办员|窗口工作人员|窗口人员|工作人员|首问责任人|办事员|经办人")
_RECORD_NO = re.compile(r"[A-Z]{2}\d{8}-\d{4,}", re.I)


def named_staff(ctx: Context, text: str, openid: str = "") -> list[str]:
    """The staff members a complaint or report is about (回避): roster names in the text, or a role word
    with a record number (that record's handler); "代办员" without a number means the 代办员 of the
    citizen's own delegation cases."""
    cfg = ctx.kb.center.records
    names = {s["name"] for s in ctx.store.staff_list()} | set(cfg.leaders)
    names |= {n for t in cfg.types.values() for n in (t.a, t.b) if n}
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
    _send_staff(ctx, name, text, dedup, notice)


def _send_staff(ctx: Context, name: str, text: str, dedup: str, notice: notify.Notice) -> None:
    member = ctx.store.staff(name) if name else None
    if member:
        ctx.store.enqueue(member["openid"], "text", {"content": text, "notice": notice.to_dict(),
                                                     "priority": notify.PRIORITY[notice.kind]},
                          dedup=f"{dedup}:{member['openid']}")


def _event(ctx: Context, who: str, action: str, note: str = "") -> dict[str, Any]:
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
    member, _ = responder_for(ctx, kind, extra.get("avoid") or (), extra)
    responder = member["name"] if member else ""
    days = due_days_for(ctx, kind_id, extra.get("matter", ""))
    extra.setdefault("days", str(days))
    due = due_at(ctx, days)
    no = ctx.store.records.next_number(kind.prefix, now.strftime("%Y%m%d"))
    fields = {"no": no, "type": kind_id, "status": "new", "openid": openid, "content": content[:1000],
              "name": name, "phone": phone, "responder": responder, "created": now.timestamp(),
              "due": _ts(due), **extra}
    note = f"首问责任人：{responder or '领导'}"
    if extra.get("registered_by"):
        note = f"{extra.get('channel', '电话')}登记（{extra['registered_by']}）；{note}"
    got, created = ctx.store.records.create(no, fields, _event(ctx, extra.get("registered_by") or "系统", "登记", note),
                                            _ts(due), idempotency)
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
                          due=_date(record["due"]))
        for leader in cfg.leaders:
            if leader != responder:  # the leader handling it has the hand-off: one message per event
                _tell_staff(ctx, leader, text, f"rec:{no}:leaders", record, "新办件")
    a, b = holders(kind, record)
    if responder and responder == a and b and b not in (record.get("avoid") or ()):
        created = dt.datetime.fromtimestamp(float(record["created"]), ctx.clock.now().tzinfo)
        ctx.store.schedule({"kind": "record_takeover", "no": no},
                           _ts(add_working_minutes(ctx, created, cfg.takeover_minutes)))
    _schedule_deadlines(ctx, record)


def _hand_off(ctx: Context, record: dict, to: str) -> None:
    kind = ctx.kb.center.records.types[record["type"]]
    text = ctx.render("records/handoff.txt", r=record, kind=kind, phone=mask_phones(record.get("phone", "")),
                      due=_date(record["due"]), summary=record["content"][:60])
    _tell_staff(ctx, to, text, f"rec:{record['no']}:handoff:{to}", record, "待接单", kind="result")


def _schedule_deadlines(ctx: Context, record: dict) -> None:
    """Yellow at the opening of the working day before the due day; red at the due time itself."""
    due = dt.datetime.fromtimestamp(float(record["due"]), ctx.clock.now().tzinfo)
    prev = due.date() - dt.timedelta(days=1)
    while not ctx.calendar.is_workday(prev) and prev > ctx.clock.today():
        prev -= dt.timedelta(days=1)
    yellow = dt.datetime.combine(prev, ctx.kb.center.hours.periods[0].start, due.tzinfo)
    if ctx.clock.now() < yellow < due:
        ctx.store.schedule({"kind": "record_yellow", "no": record["no"], "due": record["due"]}, _ts(yellow))
    ctx.store.schedule({"kind": "record_red", "no": record["no"], "due": record["due"]}, float(record["due"]))


def _unschedule_deadlines(ctx: Context, record: dict) -> None:
    """A closed record (or one whose due date moved) has no escalation left to run for that due date."""
    for kind in ("record_yellow", "record_red"):
        ctx.store.unschedule({"kind": kind, "no": record["no"], "due": record["due"]})
    if record["status"] not in OPEN:
        ctx.store.unschedule({"kind": "record_takeover", "no": record["no"]})


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
        if _CONDUCT.search(content):
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
                             _event(ctx, staff["name"], "接单"), staff=record.get("responder", ""),
                             new_staff=staff["name"])
    template = "records/delegation_accepted.txt" if record["type"] == "delegation" else "records/taken.txt"
    _tell(ctx, record, ctx.render(template, r=record, staff=staff), f"rec:{record['no']}:taken", "已受理")
    return ctx.store.records.get(record["no"])


def resume(ctx: Context, staff: dict, no: str) -> dict:
    """Materials complete after a 补正 notice: the case is handled again (办理中)."""
    record = _load_for(ctx, staff, no)
    ctx.store.records.update(record["no"], {"status": "in_progress"}, _event(ctx, staff["name"], "材料齐全，办理中"))
    _tell(ctx, record, ctx.render("records/resumed.txt", r=record), f"rec:{record['no']}:resumed", "办理中")
    return ctx.store.records.get(record["no"])


def reply(ctx: Context, staff: dict, no: str, text: str) -> dict:
    record = _load_for(ctx, staff, no)
    n = len(ctx.store.records.history(record["no"]))
    ctx.store.records.update(record["no"], {}, _event(ctx, staff["name"], "回复", text))
    reached = _tell(ctx, record, ctx.render("records/reply.txt", r=record, text=text),
                    f"rec:{record['no']}:reply:{n}", "有新答复", kind="result")
    if not reached:
        ctx.store.records.update(record["no"], {"callback": "1"},
                                 _event(ctx, "系统", "未能通过微信送达", "请电话回复群众"))
    elif record.get("callback"):
        ctx.store.records.update(record["no"], {"callback": ""}, _event(ctx, "系统", "已通过微信送达"))
    return ctx.store.records.get(record["no"])


def transfer(ctx: Context, staff: dict, no: str, to: str) -> dict:
    record = _load_for(ctx, staff, no)
    if ctx.store.staff(to) is None:
        raise NotAllowed(f"没有名为 {to} 的工作人员。")
    if to in (record.get("avoid") or ()):
        raise NotAllowed(f"{record['no']} 反映的是{to}本人的问题，按回避规定不能转给{to}办理。")
    ctx.store.records.update(record["no"], {"responder": to, "status": "new"},
                             _event(ctx, staff["name"], "转办", f"转给{to}"), staff=record.get("responder", ""),
                             new_staff=to)
    record = ctx.store.records.get(record["no"])
    _hand_off(ctx, record, to)
    _tell(ctx, record, ctx.render("records/transferred.txt", r=record), f"rec:{record['no']}:to:{to}", "已转办")
    return record


def finish(ctx: Context, staff: dict, no: str, result: str) -> dict:
    record = _load_for(ctx, staff, no)
    ctx.store.records.update(record["no"], {"status": "done", "result": result, "closed": ctx.clock.timestamp()},
                             _event(ctx, staff["name"], "办结", result), staff=record.get("responder", ""), close=True)
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
                             _event(ctx, staff["name"], "终止", reason), staff=record.get("responder", ""), close=True)
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
        _event(ctx, "群众", "终止", WITHDRAWN), when=lambda r: r["status"] in OPEN,
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
                             _event(ctx, staff["name"], "申请延期", f"{days}个工作日：{reason}"))
    record = ctx.store.records.get(record["no"])
    text = ctx.render("records/extension_request.txt", r=record, x=request, due=_date(record["due"]))
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
                                         _event(ctx, staff["name"], "不同意延期", note))
    if done == "applied":
        _tell_staff(ctx, pending["by"], ctx.render("records/extension_declined.txt", r=record, x=pending, note=note,
                                                   leader=staff["name"]), f"rec:{record['no']}:extno:{pending['at']}",
                    record, "延期未批", kind="result")
    return ctx.store.records.get(record["no"])


def _apply_extension(ctx: Context, record: dict, days: int, reason: str, asked_by: str, approved_by: str,
                     once: str | None = None) -> dict:
    old_due = dt.datetime.fromtimestamp(float(record["due"]), ctx.clock.now().tzinfo)
    due = _ts(due_at(ctx, days, old_due))
    note = f"{days}个工作日：{reason}" + (f"（{approved_by}批准）" if approved_by != asked_by else "")
    once = once or f"ext:self:{ctx.clock.timestamp()}"
    done = ctx.store.records.update_once(record["no"], once, {"due": due, "extension": ""},
                                         _event(ctx, approved_by, "延期", note), when=lambda r: r["status"] in OPEN,
                                         due=due)
    if done == "skipped":
        raise NotAllowed(f"{record['no']} 已结束，不能再延期。")
    _unschedule_deadlines(ctx, record)  # the jobs of the old due date
    record = ctx.store.records.get(record["no"])
    _schedule_deadlines(ctx, record)
    _tell(ctx, record, ctx.render("records/extended.txt", r=record, days=days, reason=reason,
                                  due=_date(record["due"])), f"rec:{record['no']}:extended:{record['due']}", "已延期")
    if asked_by != approved_by:
        _tell_staff(ctx, asked_by, ctx.render("records/extension_approved.txt", r=record, days=days,
                                              leader=approved_by, due=_date(record["due"])),
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
                                         _event(ctx, staff["name"], "补正告知", "、".join(items)),
                                         when=lambda r: not r.get("missing") and r["status"] in OPEN)
    if done == "skipped":
        raise NotAllowed(f"{record['no']} 的补正告知已经发出，不能再次发出。")
    record = ctx.store.records.get(record["no"])
    matter = ctx.kb.matters.get(record.get("matter", ""))
    reached = _tell(ctx, record, ctx.render("records/correction.txt", r=record, items=items, matter=matter),
                    f"rec:{record['no']}:correction", "需补正材料")
    if not reached:
        ctx.store.records.update(record["no"], {"callback": "1"},
                                 _event(ctx, "系统", "补正告知未能通过微信送达", "请电话告知申请人"))
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
        a, b = holders(kind, record)

        def applies(r: dict) -> bool:
            return (r["status"] == "new" and r.get("responder") == a and bool(_present(ctx, b))
                    and b not in (r.get("avoid") or ()))

        done = ctx.store.records.update_once(record["no"], "takeover", {"responder": b},
                                             _event(ctx, "系统", "转B岗", f"{a}未在时限内接单"),
                                             when=applies, staff=a, new_staff=b)
        if done != "skipped":
            _hand_off(ctx, ctx.store.records.get(record["no"]), b)
        return done == "applied"

    def applies(r: dict) -> bool:  # still open, and the due date was not extended (a newer job stands)
        return r["status"] in OPEN and float(job.get("due", 0)) == float(r["due"])

    color = "yellow" if job["kind"] == "record_yellow" else "red"
    done = ctx.store.records.update_once(record["no"], f"{color}:{job.get('due')}", {color: ctx.clock.timestamp()},
                                         _event(ctx, "系统", "黄牌预警" if color == "yellow" else "红牌超期"),
                                         when=applies)
    if done == "skipped":
        return False
    record = ctx.store.records.get(record["no"])
    text = ctx.render(f"records/{color}.txt", r=record, kind=kind, due=_date(job["due"]))
    _tell_staff(ctx, record.get("responder", ""), text, f"rec:{record['no']}:{color}:{job['due']}", record,
                "即将到期" if color == "yellow" else "已超期", kind="progress" if color == "yellow" else "result")
    if color == "red":
        for leader in ctx.kb.center.records.leaders:
            if leader != record.get("responder"):  # one message per event
                _tell_staff(ctx, leader, text, f"rec:{record['no']}:escalate:{job['due']}", record, "已超期",
                            kind="result")
    return done == "applied"


# -- the citizen's side ------------------------------------------------------------------------------
def is_withdrawal(message: Message, session: dict[str, Any], ctx: Context) -> bool:
    """`撤销代办 <编号>`, or plain words withdrawing a delegation (我不想代办了, 代办不办了)."""
    if ctx.kb.center.records is None or not message.has_text:
        return False
    text = message.text.strip()
    return bool(_WITHDRAW_NO.match(text) or (len(text) <= 40 and _WITHDRAW_WORDS.search(text)))


def on_withdrawal(message: Message, session: dict[str, Any], ctx: Context) -> Reply:
    text = message.text.strip()
    m = _WITHDRAW_NO.match(text)
    if m:
        session.pop("flow", None)
        session.pop("slots", None)
        return Reply(withdraw(ctx, message.openid, m[1].upper())[1])
    cases = [r for r in ctx.store.records.of_user(message.openid) if r["type"] == "delegation" and r["status"] in OPEN]
    if len(cases) == 1:
        session.pop("flow", None)
        session.pop("slots", None)
        return Reply(withdraw(ctx, message.openid, cases[0]["no"])[1])
    if not cases and session.get("flow") == FORM:  # a request still being filled in: it is dropped
        session.pop("flow", None)
        session.pop("slots", None)
        return Reply(ctx.render("common/cancelled.txt", had_flow=True, what="代办申请"))
    return Reply(ctx.render("records/withdraw_which.txt", cases=cases))


def classify(text: str) -> str:
    for kind, words in _TRIGGERS:
        if words.search(text):
            return kind
    return "help"


def matches(message: Message, session: dict[str, Any], ctx: Context) -> bool:
    if ctx.kb.center.records is None:
        return False
    text = message.text.strip()
    if (_MINE.match(text) or _QUERY.match(text) or intent.PROGRESS.search(text) or intent.HOW.search(text)
            or intent.WITHDRAW.search(text)):
        return True
    if session.get("flow") == FORM:
        return False  # the form in progress takes this message as its answer
    if center.is_phone_question(text):
        return False  # 投诉电话是多少: the center's phones
    if _START.match(text) or _LEAD.search(text) or (_CONDUCT.search(text) and _STAFF_WORDS.search(text)):
        return True
    if _rating_of(text) is not None and ctx.store.records.rating_asked(message.openid):
        return True
    return bool(_DELEGATE.search(text))


def handle(message: Message, session: dict[str, Any], ctx: Context) -> Reply:
    text = message.text.strip()
    if _MINE.match(text):
        return progress(message, ctx)
    m = _QUERY.match(text)
    if m:
        record = ctx.store.records.get(m[1])
        if record is not None and record.get("openid") != message.openid and m[2]:
            from handlers import applications  # a window application, proved by the phone's last digits

            if applications.link_citizen(ctx, message.openid, record, m[2]):
                record = ctx.store.records.get(m[1])
        if record is None or record.get("openid") != message.openid:
            return Reply(ctx.render("records/not_found.txt", no=m[1].upper()))
        return Reply(ctx.render("records/detail.txt", r=record, labels=STATUS_LABEL, url=ctx.public_url,
                                history=ctx.store.records.history(record["no"]),
                                kind=ctx.kb.center.records.types[record["type"]], fmt=_date))
    rating = _rating_of(text)
    no = ctx.store.records.rating_asked(message.openid)  # also: a record needs the store, said up front when down
    if rating is not None and no:
        return rate(message, session, ctx, no, rating)
    if (_CONDUCT.search(text) or _ACCUSE.match(text)) and not _START.match(text):
        return start(session, ctx, "report" if "举报" in text else "complaint", text, message)
    if intent.PROGRESS.search(text) or intent.RECORD_NO.search(text):
        return progress(message, ctx)  # a case named by its number is never a new case (a complaint naming one is taken above)
    if intent.HOW.search(text):
        return how(text, ctx)
    if _DELEGATE.search(text):
        return start(session, ctx, "delegation", text, message)
    return start(session, ctx, classify(text), "" if _START.match(text) else text, message)


def start(session: dict[str, Any], ctx: Context, kind: str, content: str, message: Message | None = None) -> Reply:
    """Open a record form; content already said is not asked again."""
    refusal = over_daily_limit(ctx, message.openid) if message is not None else None
    if refusal is not None:
        return refusal
    session["flow"] = FORM
    form: dict[str, Any] = {"type": kind}
    if kind == "delegation":
        matter = delegated_matter(content, ctx) if content else None
        if matter is not None:
            form["matter"] = matter.id
        mode = "代办" if "代办" in content else "帮办" if "帮办" in content else None
        if mode:
            form["mode"] = mode
    elif content:
        form["content"] = content
    if message is not None:
        _absorb_contact(message.text, form)
    session["slots"] = {"form": form, "asking": None, "intro": True}
    return _next(message, session, ctx)


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
    return bool(_DELEGATE.search(matter.name)) or "帮办代办" in matter.category


def progress(message: Message, ctx: Context) -> Reply:
    """我的办件 / 我投诉的事处理得怎么样了 / 办理进度怎么查: the citizen's own records, never a matter."""
    mine = ctx.store.records.of_user(message.openid)
    named = intent.RECORD_NO.search(message.text)
    if named:
        mine = [r for r in mine if r["no"] == named[0].upper()] or mine
    if len(mine) == 1:
        record = mine[0]
        detail = ctx.render("records/detail.txt", r=record, labels=STATUS_LABEL,
                            history=ctx.store.records.history(record["no"]),
                            kind=ctx.kb.center.records.types[record["type"]], fmt=_date)
        return Reply(detail.rstrip("\n") + "\n" + ctx.render("records/progress_how.txt"))
    return Reply(ctx.render("records/mine.txt", records=mine[-10:], labels=STATUS_LABEL,
                            types=ctx.kb.center.records.types, center=ctx.kb.center))


def how(text: str, ctx: Context) -> Reply:
    """怎么投诉 / 帮办代办怎么申请 / 代办收费吗: what the service is and what it needs, then how to start."""
    cfg = ctx.kb.center.records
    kind_id = "delegation" if _DELEGATE.search(text) else classify(text)
    if "留言" in text:
        kind_id = "consultation"
    kind = cfg.types.get(kind_id) or cfg.types["help"]
    return Reply(ctx.render("records/how.txt", type=kind_id, kind=kind, center=ctx.kb.center,
                            due=_date(_ts(due_at(ctx, kind.due_days)))))


def reminder(session: dict[str, Any], ctx: Context) -> str:
    """The line that brings a parked record form back: what is being registered and what it waits for."""
    state = session.get("slots") or {}
    form = state.get("form") or {}
    kind = ctx.kb.center.records.types.get(form.get("type", ""))
    return ctx.render("records/reminder.txt", label=kind.label if kind else "", asking=state.get("asking"),
                      type=form.get("type"))


def _absorb_contact(text: str, form: dict[str, Any]) -> None:
    phone = PHONE.search(text)
    if phone:
        form["phone"] = phone[1]


def on_form(message: Message, session: dict[str, Any], ctx: Context) -> Reply | None:
    """Take the value asked for, validated; None when the message reads as something else (the
    dispatcher answers it and keeps the form); the question again, with the reason, otherwise."""
    if not message.has_text:
        return None
    state = session["slots"]
    form, asking, text = state["form"], state.get("asking"), message.text.strip()
    if asking == "content":
        if intent.reads_as_other(text, session, ctx, matters=False):
            return None
        form["content"] = text
    elif asking == "matter":
        if intent.reads_as_other(text, session, ctx, matters=False):
            return None
        matter = delegated_matter(text, ctx)
        form["matter"] = matter.id if matter else ""
        if matter is None:
            form["matter_text"] = text[:100]
        mode = "代办" if "代办" in text else "帮办" if "帮办" in text else None
        if mode and "mode" not in form:
            form["mode"] = mode
    elif asking == "mode":
        mode = "代办" if re.search(r"代办|^2$|^二$", text) else "帮办" if re.search(r"帮办|^1$|^一$", text) else None
        if mode is None:
            if intent.reads_as_other(text, session, ctx):
                return None
            return _ask(session, ctx, "mode", retry=True)
        form["mode"] = mode
    elif asking == "name":
        rest = names.strip_correction(text)
        phone = PHONE.search(rest)
        if phone:
            rest = (rest[:phone.start()] + " " + rest[phone.end():]).strip(" ，,。；;、")
            rest = re.sub(r"(电话|手机|手机号|联系电话)[是为:：]?$", "", rest).strip(" ，,。")
        if _ANONYMOUS.match(rest) and form["type"] in ("report", "complaint", "suggestion", "help"):
            form["name"] = "匿名"
        else:
            name, why = names.read_name(rest)
            if name and ctx.matcher.find_by_name(name) is None and not intent.names_resource(name, ctx):
                form["name"] = name
            elif intent.reads_as_other(text, session, ctx):
                return None
            else:
                return _ask(session, ctx, "name", retry=True, why=why or "这是事项或场地的名称")
        if phone:
            form["phone"] = phone[1]
    elif asking == "phone":
        phone = PHONE.search(text)
        said_name = re.search(r"(我叫|名字|姓名|我是)[是为:：]?\s*([\u4e00-\u9fa5·]{2,12})", text)
        if said_name:  # 不对，我叫周建华 (and perhaps the phone with it)
            name, _ = names.read_name(said_name[2])
            if name:
                form["name"] = name
        if phone:
            form["phone"] = phone[1]
        elif form.get("name") == "匿名" and _ANONYMOUS.match(text):
            form["phone"] = ""
        elif said_name:
            return _ask(session, ctx, "phone", corrected=True)
        elif intent.reads_as_other(text, session, ctx):
            return None
        else:
            return _ask(session, ctx, "phone", retry=True)
    return _next(message, session, ctx)


def _next(message: Message | None, session: dict[str, Any], ctx: Context) -> Reply:
    form = session["slots"]["form"]
    order = ("matter", "mode", "name", "phone") if form["type"] == "delegation" else ("content", "name", "phone")
    for slot in order:
        if slot not in form:
            return _ask(session, ctx, slot)
    session.pop("flow", None)
    session.pop("slots", None)
    if message is None:
        return Reply(ctx.render("common/busy.txt"))
    refusal = over_daily_limit(ctx, message.openid, f"{message.openid}:{message.dedup_key}")
    if refusal is not None:
        return refusal
    kind = form["type"]
    if kind == "delegation":
        matter = ctx.kb.matters.get(form.get("matter", ""))
        content = f"{form['mode']}：{matter.name if matter else form.get('matter_text', '')}"
        record, _ = create(ctx, kind, message.openid, content, form["name"], form["phone"],
                           f"{message.openid}:{message.dedup_key}", matter=form.get("matter", ""), mode=form["mode"])
        return Reply(ctx.render("records/delegation_confirmed.txt", r=record, matter=matter,
                                due=_date(record["due"]), center=ctx.kb.center))
    extra: dict[str, Any] = {}
    if kind in ("complaint", "report"):
        avoid = named_staff(ctx, form["content"], message.openid)
        if avoid:
            extra["avoid"] = avoid
        if _CONDUCT.search(form["content"]):
            extra["conduct"] = "1"  # fees and conduct always reach the leaders
    record, _ = create(ctx, kind, message.openid, form["content"], form["name"], form["phone"],
                       f"{message.openid}:{message.dedup_key}", **extra)
    return Reply(ctx.render("records/confirmed.txt", r=record, kind=ctx.kb.center.records.types[kind],
                            due=_date(record["due"]), center=ctx.kb.center))


def over_daily_limit(ctx: Context, openid: str, idempotency: str | None = None) -> Reply | None:
    """The polite refusal when a citizen reached the day's limit of new records, else None. Without
    `idempotency` only a look (before a form starts); with it, the record is counted, atomically, so
    that many messages at once cannot pass the limit (a retry of a counted message passes). The
    leaders are told once a day per citizen, with the numbers of that day's records."""
    if not openid:
        return None
    limit = ctx.kb.center.records.daily_per_person
    day = ctx.clock.now().strftime("%Y%m%d")
    if idempotency is None:
        if ctx.store.access.daily_records(openid, day) < limit:
            return None
    elif ctx.store.access.take_daily_record(openid, day, idempotency, limit)[0]:
        return None
    numbers = [r["no"] for r in ctx.store.records.of_user(openid) if r["no"][2:10] == day]
    text = ctx.render("records/daily_limit_staff.txt", limit=limit, numbers=numbers)
    notice = notify.Notice(number=numbers[-1] if numbers else day, subject=("群众当日登记超过上限", "登记超限"),
                           status="超限", time=ctx.clock.timestamp(), hint=("回复“待办”查看详情",), kind="reminder")
    for leader in ctx.kb.center.records.leaders:
        _send_staff(ctx, leader, text, f"daily-limit:{openid}:{day}", notice)
    return Reply(ctx.render("records/daily_limit.txt", limit=limit, center=ctx.kb.center))


def _ask(session: dict[str, Any], ctx: Context, slot: str, retry: bool = False, why: str = "",
         corrected: bool = False) -> Reply:
    """Ask for a slot; the first question of a form is preceded by what is being registered and what
    the citizen will get (a number, who answers, by when)."""
    state = session["slots"]
    state["asking"] = slot
    form = state["form"]
    kind = ctx.kb.center.records.types[form["type"]]
    text = ctx.render(f"records/ask_{slot}.txt", kind=kind, type=form["type"], retry=retry, form=form, why=why,
                      corrected=corrected)
    if state.pop("intro", False):
        intro = ctx.render("records/intro.txt", kind=kind, type=form["type"], form=form,
                           matter=ctx.kb.matters.get(form.get("matter", "")),
                           due=_date(_ts(due_at(ctx, kind.due_days))))
        text = intro.rstrip("\n") + "\n" + text
    return Reply(text)


def _rating_of(text: str) -> int | None:
    text = text.strip()
    if text.isdigit() and 1 <= int(text) <= len(RATINGS):
        return int(text)
    return RATINGS.index(text) + 1 if text in RATINGS else None


def rate(message: Message, session: dict[str, Any], ctx: Context, no: str, rating: int) -> Reply:
    ctx.store.records.rating_done(message.openid)
    if ctx.store.records.get(no) is None:  # a booking's 好差评
        ctx.store.ratings.add(no, rating, RATINGS[rating - 1])
    else:
        ctx.store.records.update(no, {"rating": rating, "rating_label": RATINGS[rating - 1]},
                                 _event(ctx, "群众", "评价", RATINGS[rating - 1]))
    if rating >= 4:
        session["flow"] = RATE_REASON
        session["slots"] = {"no": no}
        return Reply(ctx.render("records/ask_reason.txt", label=RATINGS[rating - 1]))
    return Reply(ctx.render("records/thanks.txt", label=RATINGS[rating - 1]))


def on_rate_reason(message: Message, session: dict[str, Any], ctx: Context) -> Reply | None:
    if not message.has_text:
        return None
    no = session["slots"]["no"]
    session.pop("flow", None)
    session.pop("slots", None)
    original = ctx.store.records.get(no)
    cfg = ctx.kb.center.records
    if original is None:  # a booking's bad rating: the same 整改 path
        rated = ctx.store.ratings.get(no) or {"rating": 5, "label": RATINGS[-1]}
        ctx.store.ratings.add(no, rated["rating"], rated["label"], message.text.strip())
        original = {"type": "", "rating_label": rated["label"], "name": "", "phone": ""}
        label = "预约"
    else:
        ctx.store.records.update(no, {"rating_reason": message.text.strip()[:300]},
                                 _event(ctx, "群众", "差评原因", message.text.strip()[:300]))
        label = cfg.types[original["type"]].label
    content = f"{no}（{label}）评价为{original.get('rating_label', '')}：{message.text.strip()[:200]}"
    record, _ = create(ctx, "rectification", "", content, original.get("name", ""), original.get("phone", ""),
                       f"rectify:{no}", origin=no)
    return Reply(ctx.render("records/rectification.txt", r=record))
