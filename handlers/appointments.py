"""延时服务 and window appointments (seed 000 §四, seed 003 预约服务): a citizen asks to be served at a
window outside hours or at a set time; the request becomes a numbered record for the matter's window A
holder (B when away), who confirms the time or proposes another; the citizen is told, reminded the day
before with the matter's materials, and asked for a 好差评 rating afterwards."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from handlers.render import WECHAT_TEXT_LIMIT, split_by_bytes
from handlers import appointment_time, duty, records
from handlers.contact import NAME, PHONE
from handlers.context import Context
from handlers.message import Message, Reply
from handlers.when import parse_day, parse_time

FORM = "appointments.form"
KIND = "appointment"
SLOTS = ("matter", "when", "name", "phone")
FOLLOW_UP_AFTER = dt.timedelta(hours=1)  # the rating is asked this long after the appointed time
REMIND_AT = dt.time(16, 0)  # the day before

_EXTENDED = re.compile(r"延时|下班(以后|后|之后)[^。？?]{0,8}(办|来)|晚上[^。？?]{0,6}(办理|办事|来办)"
                       r"|(周六|周日|周末|星期六|星期天|礼拜六|礼拜天)[^。？?]{0,8}(加班|延时)")
_WINDOW = re.compile(r"预约[^。，,？?]{0,8}(窗口|办理|办事|办件)|约[个一]?(个)?时间[^。？?]{0,6}(办|来)")
_TRIGGER_WORDS = re.compile(r"延时(服务|办理)?|预约|窗口|下班(以后|后|之后)|能不能|可以|可不可以|给我|帮我|一下|办理|办事|来办|"
                            r"我白天要上班|白天|上班|晚上|周六|周日|周末|吗|呢|[，,。？?！!]")


def matches(message: Message, session: dict[str, Any], ctx: Context) -> bool:
    if ctx.kb.center.records is None or KIND not in ctx.kb.center.records.types or not message.has_text:
        return False
    if session.get("flow"):  # a form in progress takes the message as its answer
        return False
    text = message.text.strip()
    if len(text) > 80:
        return False
    if _EXTENDED.search(text):
        return True
    if _WINDOW.search(text):
        from handlers.booking import find_resource  # a room or equipment is the booking handler's

        return find_resource(text, ctx) is None
    return False


def start(message: Message, session: dict[str, Any], ctx: Context) -> Reply:
    text = message.text.strip()
    form: dict[str, Any] = {"mode": "延时服务" if _EXTENDED.search(text) else "预约办理"}
    rest = _TRIGGER_WORDS.sub(" ", text).strip()
    matter = _matter_in(ctx, rest) if len(rest) >= 2 else None
    if matter:
        form["matter"] = matter.id
    wanted = _when_in(text)
    if wanted:
        form["when"] = wanted
    phone = PHONE.search(text)
    if phone:
        form["phone"] = phone[1]
    session["flow"] = FORM
    session["slots"] = {"form": form, "asking": None}
    intro = ctx.render("appointments/intro.txt", mode=form["mode"], center=ctx.kb.center)
    return _next(message, session, ctx, intro)


def _matter_in(ctx: Context, text: str):
    result = ctx.matcher.match(text)
    if result.outcome == "answer":
        return result.best
    return None


_WHEN_WORDS = re.compile(r"今天|明天|后天|下?周[一二三四五六日天末]|星期[一二三四五六日天]|周末|\d{1,2}月\d{1,2}[日号]"
                         r"|上午|下午|晚上|中午|早上|下班(?:以后|后|之后)|\d{1,2}[点:：]\d{0,2}半?")


def _when_in(text: str) -> str:
    """The preferred time as said (周六上午, 明天下午5点半, 下班以后), or '' when none is said."""
    return "".join(_WHEN_WORDS.findall(text))[:40]


def on_form(message: Message, session: dict[str, Any], ctx: Context) -> Reply | None:
    if not message.has_text:
        return None
    state = session["slots"]
    form, asking, text = state["form"], state.get("asking"), message.text.strip()
    if asking == "matter":
        matter = _matter_in(ctx, text)
        if matter is None:
            result = ctx.matcher.match(text)
            matter = result.candidates[0].matter if result.outcome == "ask" and result.candidates else None
        form["matter"] = matter.id if matter else ""
        form["matter_text"] = "" if matter else text[:60]
    elif asking == "when":
        form["when"] = appointment_time.picked(state, text) or text[:40]
    elif asking == "name":
        if not NAME.match(text):
            return _ask(session, ctx, "name", retry=True)
        form["name"] = text
    elif asking == "phone":
        phone = PHONE.search(text)
        if not phone:
            return _ask(session, ctx, "phone", retry=True)
        form["phone"] = phone[1]
    return _next(message, session, ctx)


def _next(message: Message, session: dict[str, Any], ctx: Context, intro: str = "") -> Reply:
    form = session["slots"]["form"]
    outside = appointment_time.outside_hours(session["slots"], ctx)  # office and extended hours
    if outside:
        return Reply((intro + "\n" if intro else "") + outside)
    for slot in SLOTS:
        if slot not in form:
            asked = _ask(session, ctx, slot)
            return Reply((intro + "\n" if intro else "") + asked.text)
    session.pop("flow", None)
    session.pop("slots", None)
    matter = ctx.kb.matters.get(form.get("matter") or "")
    window = ctx.kb.center.window(matter.window) if matter else ctx.kb.center.windows[0]
    what = matter.name if matter else form.get("matter_text") or "未说明事项"
    content = f"{form['mode']}：{what}；希望时间：{form['when']}"
    on_duty = duty.holders_of(ctx, f"window:{window.id}")  # the window's A and B holders, kept on the record
    record, _ = records.create(ctx, KIND, message.openid, content, form["name"], form["phone"],
                               f"{message.openid}:{message.dedup_key}", matter=form.get("matter") or "",
                               window=window.id, a=on_duty.a or "", b=on_duty.b, wanted=form["when"],
                               mode=form["mode"])
    return Reply(ctx.render("appointments/recorded.txt", r=record, matter=matter, window=window, what=what,
                            due=records.day_text(record["due"])))


def _ask(session: dict[str, Any], ctx: Context, slot: str, retry: bool = False) -> Reply:
    session["slots"]["asking"] = slot
    return Reply(ctx.render(f"appointments/ask_{slot}.txt", retry=retry))


# -- the window's side: confirm the time or propose another -----------------------------------------------
def appointed_time(ctx: Context, text: str) -> dt.datetime | None:
    """A day and a time in `text` (11月25日18:00, 明天下午5点半, 周六上午9点), in the future; else None."""
    now = ctx.clock.now()
    day = parse_day(text, now.date())
    at = parse_time(text)
    if day is None or at is None:
        return None
    when = dt.datetime.combine(day, at, now.tzinfo)
    return when if when > now else None


def confirm(ctx: Context, staff: dict, no: str, when_text: str, propose: bool = False) -> dict:
    """The window confirms the appointment (at the citizen's time, or at `when_text`), or proposes another
    time; the citizen is told, and the reminder and the rating are scheduled."""
    record = records._load_for(ctx, staff, no)
    if record["type"] != KIND:
        raise records.NotAllowed(f"{record['no']} 不是预约办事记录。")
    when = appointed_time(ctx, when_text or ("" if propose else record.get("wanted", "")))
    if when is None:
        raise records.NotAllowed("请写明具体的日期和时间（须晚于现在），例如：确认 编号 11月25日18:00，"
                                 "或：改约 编号 周六上午9点。")
    old = dict(record)
    label = f"{when.month}月{when.day}日{when:%H:%M}"
    due = records.timestamp_of(records.due_at(ctx, 0, when))
    ctx.store.records.update(record["no"], {"status": "in_progress", "at": when.timestamp(), "at_text": label,
                                            "due": max(due, when.timestamp())},
                             _event(ctx, staff["name"], "另约时间" if propose else "确认预约时间", label),
                             staff=record.get("responder", ""), new_staff=staff["name"], due=max(due, when.timestamp()))
    records._unschedule_deadlines(ctx, old)
    record = ctx.store.records.get(record["no"])
    records._schedule_deadlines(ctx, record)
    matter = ctx.kb.matters.get(record.get("matter") or "")
    window = ctx.kb.center.window(record.get("window") or "")
    records._tell(ctx, record, ctx.render("appointments/confirmed.txt", r=record, propose=propose,
                                          label=label, matter=matter, window=window, staff=staff,
                                          center=ctx.kb.center),
                  f"appt:{record['no']}:at:{when.timestamp()}", "另约时间" if propose else "预约成功",
                  at=when.timestamp())
    before = dt.datetime.combine(when.date() - dt.timedelta(days=1), REMIND_AT, when.tzinfo)
    if before > ctx.clock.now():
        ctx.store.schedule({"kind": "appointment_reminder", "no": record["no"], "at": when.timestamp()},
                           before.timestamp())
    ctx.store.schedule({"kind": "appointment_followup", "no": record["no"], "at": when.timestamp()},
                       (when + FOLLOW_UP_AFTER).timestamp())
    return record


def _event(ctx: Context, who: str, action: str, note: str = "") -> dict[str, Any]:
    return {"at": ctx.clock.timestamp(), "who": who, "action": action, "note": note}


def run_job(ctx: Context, job: dict) -> bool:
    """The reminder the day before (with the materials) and the rating afterwards; a job whose
    appointment moved or ended does nothing."""
    record = ctx.store.records.get(job["no"])
    if record is None or record["status"] not in records.OPEN or float(record.get("at") or 0) != float(job["at"]):
        return False
    matter = ctx.kb.matters.get(record.get("matter") or "")
    window = ctx.kb.center.window(record.get("window") or "")
    if job["kind"] == "appointment_reminder":
        text = ctx.render("appointments/reminder.txt", r=record, matter=matter, window=window)
        sent = [records._tell(ctx, record, part, f"appt:{record['no']}:remind:{job['at']}:{i}", "明日办理",
                              kind="reminder", at=float(job["at"]))
                for i, part in enumerate(split_by_bytes(text, WECHAT_TEXT_LIMIT))]  # a long list follows, never cut
        return all(sent)
    done = ctx.store.records.update_once(
        record["no"], f"followup:{job['at']}", {"status": "done", "result": "已按预约时间办理",
                                                "closed": ctx.clock.timestamp()},
        _event(ctx, "系统", "办结", "预约时间已过，请群众评价"), when=lambda r: r["status"] in records.OPEN,
        staff=record.get("responder", ""), close=True)
    if done == "skipped":
        return False
    record = ctx.store.records.get(record["no"])
    records._unschedule_deadlines(ctx, record)
    if record["openid"]:
        ctx.store.records.ask_rating(record["openid"], record["no"])
        records._tell(ctx, record, ctx.render("appointments/rate.txt", r=record, ratings=records.RATINGS),
                      f"appt:{record['no']}:rate", "待评价", kind="reminder")
    return done == "applied"
