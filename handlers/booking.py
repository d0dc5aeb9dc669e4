"""Bookings of the center's rooms and equipment: a form (resource, day, slot, name, phone), the
citizen's list and cancellations, and the staff's approve / decline / no-show commands."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from functools import lru_cache
from typing import Any

from handlers import center, intent, names, notify
from handlers.contact import PHONE
from handlers.context import Context
from handlers.message import Message, Reply
from handlers.privacy import mask_name, mask_phones
from handlers.slots import Refusal, Rules, Slot
from handlers.when import parse_day, parse_period, parse_time
from knowledge.text import normalize
from knowledge.schema import Resource

FORM = "booking.form"
PICK_CANCEL = "booking.cancel"
SLOTS = ("resource", "day", "slot", "name", "phone")
ACTIVE = ("confirmed", "pending")
STAFF_STATUS = {"pending": "待审核", "confirmed": "新预约", "cancelled": "已取消"}  # a staff notice's status
REMIND_BEFORE = dt.timedelta(hours=2)

_BOOK_WORDS = re.compile(r"预约|预订|预定|订一?个|约一?个|想用|借用|租用")
# a resource named with these is a request to use it ("阅览室明天能用吗", "借会议室开会", "明天想去健身房")
_USE_WORDS = re.compile(r"预约|预订|预定|订|约|想用|借|租|能用|可以用|用一下|用用|还有位置|有位置|有空位|有没有位置|有空吗|"
                        r"空着吗|能去吗|想去|要去|去锻炼|去健身|去看书|开会|能预约|怎么预约")
_WHERE = re.compile(r"在哪|在什么地方|地址|位置|怎么走|几楼")
_MINE = intent.BOOKINGS_MINE
_CANCEL = re.compile(r"^取消预约\s*([A-Za-z]{1,3}\d{8,})?\s*$")
# a cancellation in plain words: "我不去了，取消预约 J2026...", "明天健身房去不了了，帮我取消一下"
_CANCEL_CODE = re.compile(r"(取消|退订|不去了|去不了).{0,8}?([A-Za-z]{1,3}\d{8,})|([A-Za-z]{1,3}\d{8,}).{0,6}(取消|退订|不去了|去不了)")
_CANCEL_WORDS = re.compile(r"(取消|退订|不去了|去不了|来不了|不来了).{0,6}(预约|预订|一下|掉)|(预约|预订).{0,6}(取消|退掉|不要了)|"
                           r"(去不了|来不了|不去了|不来了)")
_YES = re.compile(r"^(好|好的|行|可以|确定|确认|是|是的|对|就这个|就它|嗯|1)[。！!]*$")
_STAFF = re.compile(r"^(同意|拒绝|爽约)\s*([A-Za-z]{1,3}\d{8,})\s*(.*)$", re.S)


# -- routing -------------------------------------------------------------------------------------
@lru_cache(maxsize=1024)
def _plain(word: str) -> str:
    """A resource's name or alias, normalized once rather than at every message."""
    return normalize(word, strip_fillers=False)


def find_resource(text: str, ctx: Context) -> Resource | None:
    plain = normalize(text, strip_fillers=False)
    best, best_len = None, 0
    for r in ctx.kb.resources.values():
        for word in (r.name, *r.aliases):
            w = _plain(word)
            if w and w in plain and len(w) > best_len:
                best, best_len = r, len(w)
    return best


def matches(message: Message, session: dict[str, Any], ctx: Context) -> bool:
    text = message.text.strip()
    if not ctx.kb.resources:
        return False
    if _MINE.match(text) or _CANCEL.match(text) or _STAFF.match(text) or _CANCEL_CODE.search(text):
        return True
    asks = _USE_WORDS.search(text) or _WHERE.search(text) or _CANCEL_WORDS.search(text)
    booking_words = _BOOK_WORDS.search(text)
    if not (asks or booking_words):
        return False  # no word of using, booking or finding a place: no resource needs looking for
    resource = find_resource(text, ctx)
    if resource is not None and asks:
        return True
    if not booking_words:
        return False
    return bool(resource or _BOOK_WORDS.fullmatch(normalize(text))
                or re.search(r"场地|房间|设备|预约服务", text))


def handle(message: Message, session: dict[str, Any], ctx: Context) -> Reply:
    text = message.text.strip()
    if _MINE.match(text):
        return my_bookings(message, session, ctx)
    m = _CANCEL.match(text)
    if m:
        return cancel(message, m[1], session, ctx) if m[1] else my_bookings(message, session, ctx)
    m = _STAFF.match(text)
    if m:
        from handlers.booking_staff import staff_command  # staff decide on top of this module's operations

        return staff_command(message, m[1], m[2].upper(), m[3].strip(), ctx)
    m = _CANCEL_CODE.search(text)
    if m:
        return cancel(message, m[2] or m[3], session, ctx)
    resource = find_resource(text, ctx)
    if resource is not None and _WHERE.search(text) and not _USE_WORDS.search(text):
        return Reply(ctx.render("booking/where.txt", resource=resource))
    if resource is not None and _CANCEL_WORDS.search(text) and not _BOOK_WORDS.search(text.replace("取消预约", "")):
        return my_bookings(message, session, ctx)
    start(session, ctx)
    return step(message, session, ctx)


def start(session: dict[str, Any], ctx: Context) -> Reply:
    """Open an empty booking form and ask its first question."""
    session["flow"] = FORM
    session["slots"] = {"form": {}, "asking": None, "choices": []}
    return ask(session, "resource", ctx, resources=list(ctx.kb.resources.values()))


def reminder(session: dict[str, Any], ctx: Context) -> str:
    """The line that brings a parked booking form back: what is booked and what it waits for."""
    state = session.get("slots") or {}
    resource = ctx.kb.resources.get((state.get("form") or {}).get("resource", ""))
    return ctx.render("booking/reminder_form.txt", resource=resource, asking=state.get("asking"))


def _aside(text: str, session: dict[str, Any], ctx: Context) -> bool:
    """A message that is not about this booking: a greeting, the center's hours or address, a command,
    a progress query, a request to record something."""
    if _MINE.match(text) or _CANCEL.match(text):
        return False
    return bool(intent.GREETING.match(text) or center.is_center_question(text) or intent.is_command(text)
                or intent.PROGRESS.search(text) or intent.HOW.search(text) or intent.RECORD_START.match(text)
                or intent.RECORD_LEAD.search(text) or (intent.DELEGATE.search(text) and not find_resource(text, ctx))
                or (_WHERE.search(text) and find_resource(text, ctx)))


# -- the form ---------------------------------------------------------------------------------------
def on_form(message: Message, session: dict[str, Any], ctx: Context) -> Reply | None:
    if not message.has_text:
        return None
    text = message.text.strip()
    if _MINE.match(text) or _CANCEL.match(text) or _CANCEL_CODE.search(text):
        return handle(message, session, ctx)
    if _aside(text, session, ctx):
        return None  # answered by the dispatcher; the form is kept
    if not absorb(text, session["slots"], ctx):
        if intent.reads_as_other(text, session, ctx):
            return None
        return _ask_again(session, ctx)
    return step(message, session, ctx, absorbed=True)


def _ask_again(session: dict[str, Any], ctx: Context) -> Reply:
    """The question of the slot asked, again, with the reason."""
    state = session["slots"]
    asking = state.get("asking") or "resource"
    why = ctx.render("booking/not_understood.txt", asking=asking)
    reply = step(Message(openid="", kind="text", text=""), session, ctx, absorbed=True)
    return Reply(why.rstrip("\n") + "\n" + reply.text, followups=reply.followups)


def absorb(text: str, state: dict[str, Any], ctx: Context) -> bool:
    """Put what the text says into the form; False when it says nothing the form can use."""
    form = state["form"]
    before = dict(form)
    picked = _pick(text, state)
    if picked is not None:
        form[state["asking"]] = picked
        return True
    if state.get("asking") == "name":  # 周一鸣, 时间: a whole name is a name, not a day or a time
        name = _valid_name(names.strip_correction(text), ctx)
        if name:
            form["name"] = name
            return True
    fill(text, form, state.get("asking"), ctx)
    return form != before  # a wrong number changes nothing: asked again with the reason


def step(message: Message, session: dict[str, Any], ctx: Context, absorbed: bool = False) -> Reply:
    """Fill what the message gives, validate, and ask for the first slot still empty."""
    state = session["slots"]
    form: dict[str, Any] = state["form"]
    now = ctx.clock.now()
    if not absorbed:
        absorb(message.text.strip(), state, ctx)
    resource = ctx.kb.resources.get(form.get("resource", ""))
    if resource is None:
        return ask(session, "resource", ctx, resources=list(ctx.kb.resources.values()))
    rules = rules_for(resource, ctx)
    if "day" not in form:
        return ask(session, "day", ctx, resource=resource, days=rules.next_days(now))
    day = dt.date.fromisoformat(form["day"])
    if all(k in form for k in SLOTS):
        # WeChat's retry of a message whose first delivery took a seat and died before answering: the
        # seat is this message's, whatever the rules or the seats left say now
        mine = ctx.store.bookings.booked(resource.id, day.strftime("%Y%m%d"), _idempotency(message))
        if mine is not None:
            slot = Slot(resource.id, day, dt.time.fromisoformat(mine["start"]), dt.time.fromisoformat(mine["end"]))
            return _confirmed(session, ctx, resource, slot, mine, now)
    try:
        rules.check_day(day, now)
    except Refusal as why:
        form.pop("day")
        form.pop("slot", None)
        return refuse(session, why, ctx, resource, rules, now)
    if "slot" not in form:
        return ask(session, "slot", ctx, resource=resource, day=day, free=free_slots(rules, day, ctx, now),
                   period=form.pop("period", None))
    slot = next((s for s in rules.slots(day) if s.key == form["slot"]), None)
    try:
        if slot is None:
            raise Refusal("outside_hours", hours=rules.hours)
        rules.check_slot(slot, now)
    except Refusal as why:
        form.pop("slot")
        return refuse(session, why, ctx, resource, rules, now, day=day)
    taken = ctx.store.bookings.seats_taken(resource.id, day.strftime("%Y%m%d"), [slot.key])[slot.key]
    if taken >= resource.capacity:
        form.pop("slot")
        return full(session, ctx, resource, rules, slot, now)
    if "name" not in form:
        return ask(session, "name", ctx, resource=resource)
    if "phone" not in form:
        return ask(session, "phone", ctx, resource=resource)
    return book(message, session, ctx, resource, rules, slot, form)


def fill(text: str, form: dict[str, Any], asking: str | None, ctx: Context) -> None:
    """Take every slot value the text gives; the slot being asked may take looser answers."""
    today = ctx.clock.today()
    used: list[str] = []
    resource = find_resource(text, ctx)
    if resource is not None:
        if form.get("resource") != resource.id:
            form.pop("day", None)
            form.pop("slot", None)
        form["resource"] = resource.id
        used += [w for w in (resource.name, *resource.aliases) if w in text]
    day = parse_day(text, today)
    if day is not None:
        form["day"] = day.isoformat()  # a time already given stays: step() checks it on the new day
    phone = PHONE.search(text)
    if phone:
        form["phone"] = phone[1]
        text = text.replace(phone[0], " ")
    time = parse_time(text)
    period = parse_period(text)
    if (time or period) and form.get("resource") and form.get("day"):
        res = ctx.kb.resources[form["resource"]]
        rules = rules_for(res, ctx)
        day_ = dt.date.fromisoformat(form["day"])
        if time is not None:
            slot = rules.slot_at(day_, time)
            form["slot"] = slot.key if slot else f"{time:%H%M}"
        elif res.slot_minutes == 0:
            slot = next((s for s in rules.slots(day_) if (s.start.hour < 12) == (period == "上午")), None)
            if slot:
                form["slot"] = slot.key
        else:
            form["period"] = period
    name = _leftover_name(text, used, ctx)
    if name and (asking == "name" or "name" not in form or re.search(r"我叫|姓名|名字", text)):
        form["name"] = name


_TIME_WORDS = re.compile(r"预约|预订|预定|今天|明天|后天|上午|下午|晚上|早上|中午|星期|礼拜|\d|[点半号月日]$|^周[一二三四五六日天末]$")


def _valid_name(text: str, ctx: Context) -> str | None:
    """A citizen's name (any surname, single or compound), never a resource, a matter or a question."""
    name, _ = names.read_name(text)
    if name is None or find_resource(name, ctx) or ctx.matcher.find_by_name(name) is not None:
        return None
    return name


def _leftover_name(text: str, used: list[str], ctx: Context) -> str | None:
    """The name in a one-line booking, among the words that are not the resource, day, time or phone."""
    for word in used:
        text = text.replace(word, " ")
    for token in re.split(r"[\s,，。.;；:：、]+", text):
        token = token.strip()
        if not token or (_TIME_WORDS.search(token) and not re.match(r"^(我叫|姓名|名字)", token)):
            continue
        name = _valid_name(token, ctx)
        if name:
            return name
    return None


def _pick(text: str, state: dict[str, Any]) -> Any:
    """A numbered answer to the question just asked."""
    m = intent.NUMBERED.match(text)
    choices = state.get("choices") or []
    if m and state.get("asking") in ("resource", "day", "slot") and 1 <= int(m[1]) <= len(choices):
        return choices[int(m[1]) - 1]
    if len(choices) == 1 and state.get("asking") in ("resource", "day", "slot") and _YES.match(text):
        return choices[0]  # the one choice offered, accepted
    return None


def rules_for(resource: Resource, ctx: Context) -> Rules:
    return Rules(resource, ctx.calendar, ctx.kb.center.hours)


def free_slots(rules: Rules, day: dt.date, ctx: Context, now: dt.datetime) -> list[tuple[Slot, int]]:
    """Bookable slots of the day with their seats left."""
    slots = [s for s in rules.slots(day) if rules.bookable(s, now)]
    taken = ctx.store.bookings.seats_taken(rules.resource.id, day.strftime("%Y%m%d"), [s.key for s in slots])
    return [(s, rules.resource.capacity - taken[s.key]) for s in slots if taken[s.key] < rules.resource.capacity]


def ask(session: dict[str, Any], what: str, ctx: Context, **facts) -> Reply:
    state = session["slots"]
    state["asking"] = what
    if what == "resource":
        state["choices"] = [r.id for r in facts["resources"]]
    elif what == "day":
        state["choices"] = [d.isoformat() for d in facts["days"]]
    elif what == "slot":
        state["choices"] = [s.key for s, _ in facts["free"]]
    else:
        state["choices"] = []
    return Reply(ctx.render(f"booking/ask_{what}.txt", **facts))


def refuse(session: dict[str, Any], why: Refusal, ctx: Context, resource: Resource, rules: Rules,
           now: dt.datetime, day: dt.date | None = None) -> Reply:
    """Say why, then offer the nearest valid alternatives as the next question."""
    reason = ctx.render(f"booking/why_{why.reason}.txt", resource=resource, **why.facts)
    if day is not None:
        free = free_slots(rules, day, ctx, now)
        if free:
            alternative = ask(session, "slot", ctx, resource=resource, day=day, free=free, period=None)
            return Reply(reason + "\n" + alternative.text)
    alternative = ask(session, "day", ctx, resource=resource, days=_days_with_seats(rules, ctx, now))
    return Reply(reason + "\n" + alternative.text)


def _days_with_seats(rules: Rules, ctx: Context, now: dt.datetime) -> list[dt.date]:
    return [d for d in rules.next_days(now, limit=10) if free_slots(rules, d, ctx, now)][:5]


def full(session: dict[str, Any], ctx: Context, resource: Resource, rules: Rules, slot: Slot,
         now: dt.datetime) -> Reply:
    free = free_slots(rules, slot.date, ctx, now)
    free.sort(key=lambda p: abs(dt.datetime.combine(slot.date, p[0].start) - dt.datetime.combine(slot.date, slot.start)))
    head = ctx.render("booking/full.txt", resource=resource, slot=slot)
    if free:
        return Reply(head + "\n" + ask(session, "slot", ctx, resource=resource, day=slot.date,
                                        free=sorted(free[:5], key=lambda p: p[0].start), period=None).text)
    return Reply(head + "\n" + ask(session, "day", ctx, resource=resource,
                                    days=_days_with_seats(rules, ctx, now)).text)


def book(message: Message, session: dict[str, Any], ctx: Context, resource: Resource, rules: Rules,
         slot: Slot, form: dict[str, Any]) -> Reply:
    now = ctx.clock.now()
    store = ctx.store.bookings
    since = (now - dt.timedelta(days=90)).timestamp()
    if store.no_shows(message.openid, since) >= ctx.kb.max_no_shows:
        session.pop("flow", None)
        session.pop("slots", None)
        return Reply(ctx.render("booking/why_no_shows.txt", count=ctx.kb.max_no_shows, center=ctx.kb.center))
    mine = [b for b in store.of_user(message.openid, now.timestamp()) if b["status"] in ACTIVE]
    if len(mine) >= resource.per_person_open:
        session.pop("flow", None)
        session.pop("slots", None)
        return Reply(ctx.render("booking/why_open_limit.txt", limit=resource.per_person_open, mine=mine,
                                names=_names(ctx)))
    status = "pending" if resource.approval else "confirmed"
    booking = {"resource": resource.id, "day": slot.date.strftime("%Y%m%d"), "date": slot.date.isoformat(),
               "slot": slot.key, "start": f"{slot.start:%H:%M}", "end": f"{slot.end:%H:%M}",
               "starts": slot.starts_at(now.tzinfo).timestamp(), "openid": message.openid,
               "name": form["name"], "phone": form["phone"], "status": status, "created": now.timestamp()}
    result = store.book(resource.id, resource.code, booking["day"], slot.key, message.openid, booking,
                        resource.capacity, resource.per_person_per_day, idempotency=_idempotency(message))
    if result.outcome == "full":
        form.pop("slot", None)
        return full(session, ctx, resource, rules, slot, now)
    if result.outcome == "daily_limit":
        session.pop("flow", None)
        session.pop("slots", None)
        return Reply(ctx.render("booking/why_daily_limit.txt", resource=resource, code=result.code))
    return _confirmed(session, ctx, resource, slot, result.booking or {**booking, "code": result.code}, now)


CALLER = "phone:"  # the identity of a caller booked by staff: their phone, since they have no WeChat here


def book_for_caller(ctx: Context, staff: dict, resource_id: str, date: str, start: str, name: str, phone: str,
                    nonce: str) -> tuple[bool, str]:
    """A booking staff make from the console for someone who phoned or came in: the rules, limits and
    seat count of a WeChat booking; the caller is told by phone. (done, what to show the clerk)."""
    resource = ctx.kb.resources.get(resource_id)
    if resource is None:
        return False, "请选择场地或设备。"
    try:
        day = dt.date.fromisoformat(date)
        at = dt.time.fromisoformat(start)
    except ValueError:
        return False, "日期或时间格式不对。"
    if names.read_name(name)[0] != name:
        return False, f"姓名须为预约人的真实姓名（{names.read_name(name)[1] or '请核对'}）。"
    if not PHONE.fullmatch(phone or ""):
        return False, "请填写正确的电话号码。"
    rules = rules_for(resource, ctx)
    slot = rules.slot_at(day, at)
    now = ctx.clock.now()
    try:
        if slot is None:
            rules.check_day(day, now)
            raise Refusal("outside_hours", hours=rules.hours)
        rules.check_slot(slot, now)
    except Refusal as why:
        return False, ctx.render(f"booking/why_{why.reason}.txt", resource=resource, **why.facts)
    caller = Message(openid=CALLER + phone, kind="text", text="", msg_id=0, event="staff",
                     key=f"{staff['name']}:{nonce or now.timestamp()}")
    reply = book(caller, {}, ctx, resource, rules, slot, {"name": name, "phone": phone})
    booked = ctx.store.bookings.booked(resource.id, slot.date.strftime("%Y%m%d"), _idempotency(caller))
    if booked is None:
        return False, reply.text
    return True, f"已为{name}预约{resource.name} {booked['date']} {booked['start']}-{booked['end']}，预约编号：{booked['code']}。请电话告知来电群众。"


def _idempotency(message: Message) -> str:
    return f"{message.openid}:{message.dedup_key}"


def _confirmed(session: dict[str, Any], ctx: Context, resource: Resource, slot: Slot, booking: dict,
               now: dt.datetime) -> Reply:
    """The form is done: tell the staff, schedule the reminder, confirm. For a duplicate too: the request
    that took the seat may have died before telling the staff and scheduling the reminder; both are
    idempotent (a dedup key, one job per booking)."""
    session.pop("flow", None)
    session.pop("slots", None)
    if booking["status"] in ACTIVE:
        _tell_staff(ctx, resource, "booking/staff_new.txt", booking)
        _schedule_reminder(ctx, booking, now)
    return Reply(ctx.render("booking/confirmed.txt", b=booking, resource=resource, slot=slot))


# -- the citizen's list and cancellations ------------------------------------------------------------
def _names(ctx: Context) -> dict[str, str]:
    return {r.id: r.name for r in ctx.kb.resources.values()}


def _active(message: Message, ctx: Context) -> list[dict]:
    now = ctx.clock.now().timestamp()
    return [b for b in ctx.store.bookings.of_user(message.openid, now) if b["status"] in ACTIVE]


def my_bookings(message: Message, session: dict[str, Any], ctx: Context) -> Reply:
    mine = _active(message, ctx)
    if mine:
        session["flow"] = PICK_CANCEL
        session["slots"] = {"codes": [b["code"] for b in mine]}
    return Reply(ctx.render("booking/mine.txt", mine=mine, names=_names(ctx)))


def on_pick_cancel(message: Message, session: dict[str, Any], ctx: Context) -> Reply | None:
    m = re.match(r"^\s*(?:取消)?\s*(\d{1,2})\s*$", message.text)
    codes = (session.get("slots") or {}).get("codes", [])
    if not m or not 1 <= int(m[1]) <= len(codes):
        return None
    session.pop("flow", None)
    session.pop("slots", None)
    return cancel(message, codes[int(m[1]) - 1], session, ctx)


def cancel(message: Message, code: str, session: dict[str, Any], ctx: Context) -> Reply:
    letters = {r.code: r.id for r in ctx.kb.resources.values()}
    booking = ctx.store.bookings.get(code, letters)
    if booking is None or booking["openid"] != message.openid:
        return Reply(ctx.render("booking/not_found.txt", code=code.upper()))
    resource = ctx.kb.resources[booking["resource"]]
    rules = rules_for(resource, ctx)
    slot = Slot(resource.id, dt.date.fromisoformat(booking["date"]), dt.time.fromisoformat(booking["start"]),
                dt.time.fromisoformat(booking["end"]))
    now = ctx.clock.now()
    if booking["status"] in ACTIVE and not rules.can_cancel(slot, now):
        return Reply(ctx.render("booking/too_late_to_cancel.txt", b=booking, resource=resource))
    ok, result = ctx.store.bookings.transition(booking, ACTIVE, "cancelled", free=True, cancelled=now.timestamp())
    if not ok:
        return Reply(ctx.render("booking/not_active.txt", b=booking, state=result))
    _tell_staff(ctx, resource, "booking/staff_cancelled.txt", result)
    drop_jobs(ctx, result)
    return Reply(ctx.render("booking/cancelled.txt", b=result, resource=resource))


def release_all(ctx: Context, openid: str) -> list[dict]:
    """On unsubscribe: cancel the person's bookings still to come, give their seats back at once, keep
    only masked name and phone on them, and tell each resource's staff. Returns the cancelled bookings."""
    now = ctx.clock.now()
    cancelled = []
    for b in ctx.store.bookings.of_user(openid, now.timestamp()):
        resource = ctx.kb.resources.get(b["resource"])
        if b["status"] not in ACTIVE or resource is None:
            continue
        ok, result = ctx.store.bookings.transition(b, ACTIVE, "cancelled", free=True, cancelled=now.timestamp(),
                                                   cancelled_by="unsubscribe", name=mask_name(b.get("name", "")),
                                                   phone=mask_phones(b.get("phone", "")))
        if ok:
            drop_jobs(ctx, result)  # no reminder, no rating request
            _tell_staff(ctx, resource, "booking/staff_unsubscribed.txt", result)
            cancelled.append(result)
    return cancelled


# -- what staff and the worker use ------------------------------------------------------------------
def _tell_staff(ctx: Context, resource: Resource, template: str, booking: dict) -> None:
    """The resource's staff hear of a booking (a new one to decide, a cancellation), with its facts for a
    template or subscribe message when a text cannot reach them."""
    text = ctx.render(template, b=booking, resource=resource)
    notice = dataclasses.replace(booking_notice(booking, resource, STAFF_STATUS.get(booking["status"], "有变动"),
                                                "booking"), hint=("回复“待办”查看详情",))
    for name in resource.staff:
        notify.staff(ctx, name, text, f"staff:{booking['code']}:{booking['status']}", notice)


def booking_notice(booking: dict, resource: Resource, status: str, kind: str) -> notify.Notice:
    """The facts of a message about a booking, for a template or subscribe message."""
    return notify.Notice(number=booking["code"], subject=(f"{resource.name}预约", resource.name), status=status,
                         time=float(booking["starts"]), hint=("回复“我的预约”查看详情",), kind=kind)


def _reminder_job(booking: dict) -> dict:
    return {"kind": "booking_reminder", "code": booking["code"], "resource": booking["resource"]}


def _rating_job(booking: dict) -> dict:
    return {"kind": "booking_rating", "code": booking["code"], "resource": booking["resource"]}


def drop_jobs(ctx: Context, booking: dict) -> None:
    """A booking that will not take place keeps no reminder and asks for no rating."""
    for job in (_reminder_job(booking), _rating_job(booking)):
        ctx.store.unschedule(job)


def _schedule_reminder(ctx: Context, booking: dict, now: dt.datetime) -> None:
    at = booking["starts"] - REMIND_BEFORE.total_seconds()
    if at > now.timestamp():
        ctx.store.schedule(_reminder_job(booking), at)
    if not booking["openid"].startswith(CALLER):  # 好差评 after the booking, on WeChat
        end = dt.datetime.combine(dt.date.fromisoformat(booking["date"]), dt.time.fromisoformat(booking["end"]),
                                  now.tzinfo)
        ctx.store.schedule(_rating_job(booking), end.timestamp())


def rating_request(job: dict, ctx: Context) -> bool:
    """After a booking that took place (not cancelled, declined or missed): ask for a 好差评 rating."""
    from handlers import records

    letters = {r.code: r.id for r in ctx.kb.resources.values()}
    booking = ctx.store.bookings.get(job["code"], letters)
    if booking is None or booking["status"] != "confirmed":
        return False
    ctx.store.records.ask_rating(booking["openid"], booking["code"])
    resource = ctx.kb.resources[booking["resource"]]
    return notify.citizen(ctx, booking["openid"], ctx.render("booking/rate.txt", b=booking, resource=resource,
                                                            ratings=records.RATINGS),
                          f"job:booking_rating:{booking['code']}",
                          booking_notice(booking, resource, "待评价", "reminder"))


def reminder_text(job: dict, ctx: Context) -> tuple[str, str, notify.Notice] | None:
    """(openid, text, notice) of a due reminder, or None when the booking is no longer active."""
    letters = {r.code: r.id for r in ctx.kb.resources.values()}
    booking = ctx.store.bookings.get(job["code"], letters)
    if booking is None or booking["status"] not in ACTIVE:
        return None
    resource = ctx.kb.resources[booking["resource"]]
    return (booking["openid"], ctx.render("booking/reminder.txt", b=booking, resource=resource),
            booking_notice(booking, resource, "即将开始", "reminder"))
