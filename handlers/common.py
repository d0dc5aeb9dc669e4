"""Answers events (subscribe, unsubscribe, menu clicks), media the bot cannot read, and global words."""
from __future__ import annotations

import re
from typing import Any

from handlers import booking, center, consult, intent, record_form, records
from handlers.context import Context
from handlers.message import Message, Reply

HELP_WORDS = re.compile(r"^(帮助|help|\?|？|菜单|功能|你能做什么|能做什么|使用说明|怎么用)$", re.IGNORECASE)
CANCEL_WORDS = re.compile(r"^(取消|退出|不办了|算了|返回|结束)$")

# What each menu key does; `centerbot menu push` refuses a menu with a key missing here.
CLICKS = {
    "CONSULT_POPULAR": lambda m, s, c: consult.popular(s, c),
    "CONSULT_CATEGORIES": lambda m, s, c: consult.categories(s, c),
    "CENTER_HOURS": lambda m, s, c: Reply(c.render("center/hours.txt", **center.today_context(c))),
    "CENTER_LOCATION": lambda m, s, c: Reply(c.render("center/location.txt", center=c.kb.center)),
    "CENTER_PHONES": lambda m, s, c: Reply(c.render("center/phones.txt", **c.hours_context())),
    "HELP": lambda m, s, c: Reply(help_text(c)),
    "BOOK": lambda m, s, c: booking.start(s, c),
    "MY_BOOKINGS": lambda m, s, c: booking.my_bookings(m, s, c),
    "REPORT": lambda m, s, c: record_form.start(s, c, "help", "", m),
    "DELEGATION": lambda m, s, c: record_form.start(s, c, "delegation", "", m),
    "MY_RECORDS": lambda m, s, c: record_form.handle(m.__class__(openid=m.openid, kind="text", text="我的办件"), s, c),
}


# Events saying which subscribe messages a user agreed to: recorded, never answered, and not a message
# from the user (they open no customer-service window: WeChat's 48 hours follow the user's own messages).
CONSENT_EVENTS = ("subscribe_msg_popup_event", "subscribe_msg_change_event", "subscribe_msg_sent_event")


def help_text(ctx: Context) -> str:
    return ctx.render("common/help.txt", center=ctx.kb.center, examples=consult.popular_matters(ctx)[:3])


def on_event(message: Message, session: dict[str, Any], ctx: Context) -> Reply:
    event = message.event
    if event == "subscribe" or event == "scan":
        session.clear()
        return Reply(ctx.render("common/welcome.txt", returning=event == "scan", **center.today_context(ctx)))
    if event == "unsubscribe":
        booking.release_all(ctx, message.openid)  # before the person's booking index is forgotten
        ctx.store.forget_user(message.openid)
        session.clear()
        return Reply("")
    if event in CONSENT_EVENTS:  # the subscribe messages (订阅通知) the user agreed to or refused
        for template_id, choice in message.choices:
            ctx.store.note_subscribe_choice(message.openid, template_id, choice == "accept")
        return Reply("")
    if event == "click":
        action = CLICKS.get(message.key)
        if action is None:
            return Reply(ctx.render("common/unknown_click.txt") + "\n\n" + help_text(ctx))
        session.pop("flow", None)
        session.pop("paused", None)
        return action(message, session, ctx)
    # view, location reports, template delivery reports ...: nothing to say
    return Reply("")


def on_media(message: Message, session: dict[str, Any], ctx: Context) -> Reply:
    return Reply(ctx.render("common/media.txt", kind=message.kind, center=ctx.kb.center))


def _in_form(session: dict[str, Any]) -> bool:
    return bool(session.get("flow") in (booking.FORM, records.FORM) or session.get("paused"))


def is_global_word(message: Message, session: dict[str, Any], ctx: Context) -> bool:
    text = message.text.strip()
    return bool(HELP_WORDS.match(text) or CANCEL_WORDS.match(text)
                or (_in_form(session) and intent.CANCEL_PLAIN.match(text)))


def on_global_word(message: Message, session: dict[str, Any], ctx: Context) -> Reply:
    """帮助 answers with the help (a form in progress is kept: the dispatcher's line says how to go on);
    取消 and plain cancellations (算了不投诉了) end the form in progress and any form parked behind it."""
    text = message.text.strip()
    if HELP_WORDS.match(text):
        if session.get("flow") in (booking.FORM, records.FORM):
            session["paused"] = {"flow": session.pop("flow"), "slots": session.pop("slots", None)}
        return Reply(help_text(ctx))
    flow = session.pop("flow", None)
    session.pop("slots", None)
    paused = session.pop("paused", None)
    what = _form_label(flow, ctx) or _form_label((paused or {}).get("flow"), ctx)
    return Reply(ctx.render("common/cancelled.txt", had_flow=bool(flow or paused), what=what))


def _form_label(flow: str | None, ctx: Context) -> str:
    return {booking.FORM: "本次预约", records.FORM: "本次登记"}.get(flow or "", "")


def is_greeting(message: Message, session: dict[str, Any], ctx: Context) -> bool:
    return bool(intent.GREETING.match(message.text.strip()))


def on_greeting(message: Message, session: dict[str, Any], ctx: Context) -> Reply:
    """你好 / 在吗 / 谢谢 / 好的 / 你是机器人吗: a short polite answer and what the bot can do."""
    text = message.text.strip()
    kind = ("thanks" if intent.THANKS.search(text) else "robot" if intent.ROBOT.search(text)
            else "ack" if intent.ACK.match(text) else "hello")
    return Reply(ctx.render("common/greeting.txt", kind=kind, center=ctx.kb.center,
                            in_form=bool(session.get("paused"))))
