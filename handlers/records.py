"""First-responder records (首问负责) and delegation cases (帮办代办): the one implementation of every
record operation (create, hand off, take, reply, transfer, finish, terminate, extend, 补正, rate,
escalate) behind the citizen's dialogue, the staff's WeChat commands, the worker and the console."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from handlers import notify
from handlers.contact import NAME, PHONE
from handlers.context import Context
from handlers.message import Message, Reply
from handlers.privacy import mask_phones
from knowledge.schema import RecordType

FORM = "records.form"
RATE_REASON = "records.rate_reason"
OPEN = ("new", "in_progress", "awaiting_materials")
STATUS_LABEL = {"new": "待接单", "in_progress": "办理中", "awaiting_materials": "待补正材料", "done": "已办结",
                "terminated": "已终止"}
TERMINATION_REASONS = ("申请人提供的材料虚假", "不符合办理条件且无法补正", "应缴税费未缴纳", "申请人主动撤回",
                       "政策调整或不可抗力", "其他原因")
RATINGS = ("非常满意", "满意", "基本满意", "不满意", "非常不满意")

_TRIGGERS = [("visit", re.compile(r"记者|媒体|采访|来访参观|考察团")), ("consultation", re.compile(r"^(我要|我想)?留言")),
             ("report", re.compile(r"举报")), ("complaint", re.compile(r"投诉|态度|乱收费|推诿|不作为|刁难|服务差|踢皮球|推来推去")),
             ("suggestion", re.compile(r"建议|意见")), ("help", re.compile(r"求助|帮帮|救救|反映|坏了|没人管|没人修"))]
_START = re.compile(r"^(我要|我想|我来)?(投诉|举报|反映(问题|情况)?|求助|提(个)?(意见|建议)|留言)$")
_LEAD = re.compile(r"^(我要|我想|我来)?(投诉|举报|反映|求助|建议|提(个)?(意见|建议))|记者|媒体采访")
_DELEGATE = re.compile(r"帮办|代办|帮我办|替我办|代我办|帮忙办")
_MINE = re.compile(r"^(我的办件|我的工单|我的记录|办件查询|我反映的问题)$")
_QUERY = re.compile(r"^查询\s*([A-Z]{2}\d{8}-\d{4})$", re.I)
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


def responder_for(ctx: Context, kind: RecordType) -> tuple[dict | None, bool]:
    """The A holder on duty, else B, else a leader: (staff member, whether it is the A holder)."""
    a = _present(ctx, kind.a)
    if a:
        return a, True
    b = _present(ctx, kind.b)
    if b:
        return b, False
    for name in ctx.kb.center.records.leaders:
        leader = _present(ctx, name)
        if leader:
            return leader, False
    return None, False


def _tell(ctx: Context, record: dict, text: str, dedup: str, status: str, kind: str = "progress") -> None:
    """A citizen's message about their record: a customer-service text, else the center's template or
    subscribe message showing the record's number, type, `status` (at most 5 Chinese characters) and time."""
    label = ctx.kb.center.records.types[record["type"]].label if ctx.kb.center.records else "办件"
    matter = ctx.kb.matters.get(record.get("matter", ""))
    subject = ((f"{label}·{matter.name}", matter.name) if matter else ()) + (label,)
    notice = notify.Notice(number=record["no"], subject=subject, status=status, time=ctx.clock.timestamp(),
                           hint=("回复“我的办件”查看详情",), kind=kind)
    notify.citizen(ctx, record["openid"], text, dedup, notice)


def _tell_staff(ctx: Context, name: str, text: str, dedup: str, record: dict, status: str,
                kind: str = "progress") -> None:
    """A staff member's message about a record: a customer-service text, else (their 5 texts used or
    48 hours over) the center's template or subscribe message with the record's number, type, `status`
    and due time."""
    member = ctx.store.staff(name) if name else None
    if member:
        label = ctx.kb.center.records.types[record["type"]].label
        notice = notify.Notice(number=record["no"], subject=(label,), status=status, time=float(record["due"]),
                               hint=("回复“待办”查看详情",), kind=kind)
        ctx.store.enqueue(member["openid"], "text", {"content": text, "notice": notice.to_dict(),
                                                     "priority": notify.PRIORITY[kind]},
                          dedup=f"{dedup}:{member['openid']}")


def _event(ctx: Context, who: str, action: str, note: str = "") -> dict[str, Any]:
    return {"at": ctx.clock.timestamp(), "who": who, "action": action, "note": note}


# -- creating and handing off --------------------------------------------------------------------------
def create(ctx: Context, kind_id: str, openid: str, content: str, name: str, phone: str, idempotency: str,
           **extra: str) -> tuple[dict, bool]:
    """Register a record once, hand it to the first responder, tell the leaders, schedule escalations."""
    cfg = ctx.kb.center.records
    kind = cfg.types[kind_id]
    now = ctx.clock.now()
    member, _ = responder_for(ctx, kind)
    responder = member["name"] if member else ""
    due = due_at(ctx, kind.due_days)
    no = ctx.store.records.next_number(kind.prefix, now.strftime("%Y%m%d"))
    fields = {"no": no, "type": kind_id, "status": "new", "openid": openid, "content": content[:1000],
              "name": name, "phone": phone, "responder": responder, "created": now.timestamp(),
              "due": _ts(due), **extra}
    got, created = ctx.store.records.create(no, fields, _event(ctx, "系统", "登记", f"首问责任人：{responder or '领导'}"),
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
    _hand_off(ctx, record, responder)
    if kind.leaders or not responder:
        text = ctx.render("records/leaders_summary.txt", r=record, kind=kind, phone=mask_phones(record.get("phone", "")),
                          due=_date(record["due"]))
        for leader in cfg.leaders:
            _tell_staff(ctx, leader, text, f"rec:{no}:leaders", record, "新办件")
    if responder and responder == kind.a and kind.b:
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
    _tell(ctx, record, ctx.render("records/reply.txt", r=record, text=text), f"rec:{record['no']}:reply:{n}",
          "有新答复", kind="result")
    return record


def transfer(ctx: Context, staff: dict, no: str, to: str) -> dict:
    record = _load_for(ctx, staff, no)
    if ctx.store.staff(to) is None:
        raise NotAllowed(f"没有名为 {to} 的工作人员。")
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
    _tell(ctx, record, ctx.render("records/terminated.txt", r=record), f"rec:{record['no']}:terminated", "已终止",
          kind="result")
    return record


def extend(ctx: Context, staff: dict, no: str, days: int, reason: str) -> dict:
    if days < 1:
        raise NotAllowed("延期天数至少为1个工作日。")
    record = _load_for(ctx, staff, no)
    old_due = dt.datetime.fromtimestamp(float(record["due"]), ctx.clock.now().tzinfo)
    due = due_at(ctx, days, old_due)
    ctx.store.records.update(record["no"], {"due": _ts(due)}, _event(ctx, staff["name"], "延期", f"{days}个工作日：{reason}"),
                             due=_ts(due))
    record = ctx.store.records.get(record["no"])
    _schedule_deadlines(ctx, record)
    _tell(ctx, record, ctx.render("records/extended.txt", r=record, days=days, reason=reason,
                                  due=_date(record["due"])), f"rec:{record['no']}:extended:{record['due']}", "已延期")
    return record


def correction(ctx: Context, staff: dict, no: str, items: list[str]) -> dict:
    """The one 补正 notice of a delegation case: every missing item at once."""
    record = _load_for(ctx, staff, no)
    ctx.store.records.update(record["no"], {"status": "awaiting_materials", "missing": items},
                             _event(ctx, staff["name"], "补正告知", "、".join(items)))
    record = ctx.store.records.get(record["no"])
    matter = ctx.kb.matters.get(record.get("matter", ""))
    _tell(ctx, record, ctx.render("records/correction.txt", r=record, items=items, matter=matter),
          f"rec:{record['no']}:correction", "需补正材料")
    return record


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
        def applies(r: dict) -> bool:
            return r["status"] == "new" and r.get("responder") == kind.a and bool(_present(ctx, kind.b))

        done = ctx.store.records.update_once(record["no"], "takeover", {"responder": kind.b},
                                             _event(ctx, "系统", "转B岗", f"{kind.a}未在时限内接单"),
                                             when=applies, staff=kind.a, new_staff=kind.b)
        if done != "skipped":
            _hand_off(ctx, ctx.store.records.get(record["no"]), kind.b)
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
            _tell_staff(ctx, leader, text, f"rec:{record['no']}:escalate:{job['due']}", record, "已超期",
                        kind="result")
    return done == "applied"


# -- the citizen's side ------------------------------------------------------------------------------
def classify(text: str) -> str:
    for kind, words in _TRIGGERS:
        if words.search(text):
            return kind
    return "help"


def matches(message: Message, session: dict[str, Any], ctx: Context) -> bool:
    if ctx.kb.center.records is None:
        return False
    text = message.text.strip()
    if _MINE.match(text) or _QUERY.match(text):
        return True
    if session.get("flow") == FORM:
        return False  # the form in progress takes this message as its answer
    if _START.match(text) or _LEAD.search(text):
        return True
    if _rating_of(text) is not None and ctx.store.records.rating_asked(message.openid):
        return True
    return bool(_DELEGATE.search(text))


def handle(message: Message, session: dict[str, Any], ctx: Context) -> Reply:
    text = message.text.strip()
    if _MINE.match(text):
        mine = ctx.store.records.of_user(message.openid)
        return Reply(ctx.render("records/mine.txt", records=mine[-10:], labels=STATUS_LABEL,
                                types=ctx.kb.center.records.types))
    m = _QUERY.match(text)
    if m:
        record = ctx.store.records.get(m[1])
        if record is None or record.get("openid") != message.openid:
            return Reply(ctx.render("records/not_found.txt", no=m[1].upper()))
        return Reply(ctx.render("records/detail.txt", r=record, labels=STATUS_LABEL, history=ctx.store.records.history(record["no"]),
                                kind=ctx.kb.center.records.types[record["type"]], fmt=_date))
    rating = _rating_of(text)
    no = ctx.store.records.rating_asked(message.openid)
    if rating is not None and no:
        return rate(message, session, ctx, no, rating)
    if _DELEGATE.search(text):
        return start(session, ctx, "delegation", text, message)
    return start(session, ctx, classify(text), "" if _START.match(text) else text, message)


def start(session: dict[str, Any], ctx: Context, kind: str, content: str, message: Message | None = None) -> Reply:
    """Open a record form; content already said is not asked again."""
    session["flow"] = FORM
    form: dict[str, Any] = {"type": kind}
    if kind == "delegation":
        result = ctx.matcher.match(content) if content else None
        if result is not None and result.outcome == "answer":
            form["matter"] = result.best.id
        mode = "代办" if "代办" in content else "帮办" if "帮办" in content else None
        if mode:
            form["mode"] = mode
    elif content:
        form["content"] = content
    if message is not None:
        _absorb_contact(message.text, form)
    session["slots"] = {"form": form, "asking": None}
    return _next(message, session, ctx)


def _absorb_contact(text: str, form: dict[str, Any]) -> None:
    phone = PHONE.search(text)
    if phone:
        form["phone"] = phone[1]


def on_form(message: Message, session: dict[str, Any], ctx: Context) -> Reply | None:
    if not message.has_text:
        return None
    state = session["slots"]
    form, asking, text = state["form"], state.get("asking"), message.text.strip()
    if asking == "content":
        form["content"] = text
    elif asking == "matter":
        result = ctx.matcher.match(text)
        if result.outcome in ("answer", "ask") and result.candidates:
            form["matter"] = result.candidates[0].matter.id
        else:
            form["matter"] = ""
            form["matter_text"] = text[:100]
    elif asking == "mode":
        mode = "代办" if re.search(r"代办|2", text) else "帮办" if re.search(r"帮办|1", text) else None
        if mode is None:
            return _ask(session, ctx, "mode")
        form["mode"] = mode
    elif asking == "name":
        if _ANONYMOUS.match(text) and form["type"] in ("report", "complaint", "suggestion", "help"):
            form["name"] = "匿名"
        elif NAME.match(text):
            form["name"] = text
        else:
            return _ask(session, ctx, "name", retry=True)
    elif asking == "phone":
        phone = PHONE.search(text)
        if phone:
            form["phone"] = phone[1]
        elif form.get("name") == "匿名" and _ANONYMOUS.match(text):
            form["phone"] = ""
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
    kind = form["type"]
    if kind == "delegation":
        matter = ctx.kb.matters.get(form.get("matter", ""))
        content = f"{form['mode']}：{matter.name if matter else form.get('matter_text', '')}"
        record, _ = create(ctx, kind, message.openid, content, form["name"], form["phone"],
                           f"{message.openid}:{message.dedup_key}", matter=form.get("matter", ""), mode=form["mode"])
        return Reply(ctx.render("records/delegation_confirmed.txt", r=record, matter=matter,
                                due=_date(record["due"]), center=ctx.kb.center))
    record, _ = create(ctx, kind, message.openid, form["content"], form["name"], form["phone"],
                       f"{message.openid}:{message.dedup_key}")
    return Reply(ctx.render("records/confirmed.txt", r=record, kind=ctx.kb.center.records.types[kind],
                            due=_date(record["due"]), center=ctx.kb.center))


def _ask(session: dict[str, Any], ctx: Context, slot: str, retry: bool = False) -> Reply:
    session["slots"]["asking"] = slot
    form = session["slots"]["form"]
    return Reply(ctx.render(f"records/ask_{slot}.txt", kind=ctx.kb.center.records.types[form["type"]],
                            type=form["type"], retry=retry, form=form))


def _rating_of(text: str) -> int | None:
    text = text.strip()
    if text.isdigit() and 1 <= int(text) <= len(RATINGS):
        return int(text)
    return RATINGS.index(text) + 1 if text in RATINGS else None


def rate(message: Message, session: dict[str, Any], ctx: Context, no: str, rating: int) -> Reply:
    ctx.store.records.rating_done(message.openid)
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
    ctx.store.records.update(no, {"rating_reason": message.text.strip()[:300]},
                             _event(ctx, "群众", "差评原因", message.text.strip()[:300]))
    cfg = ctx.kb.center.records
    content = f"{no}（{cfg.types[original['type']].label}）评价为{original.get('rating_label', '')}：{message.text.strip()[:200]}"
    record, _ = create(ctx, "rectification", "", content, original.get("name", ""), original.get("phone", ""),
                       f"rectify:{no}", origin=no)
    return Reply(ctx.render("records/rectification.txt", r=record))
