"""Answers events (subscribe, unsubscribe, menu clicks), media the bot cannot read, and global words."""
from __future__ import annotations

import re
from typing import Any

from handlers import booking, center, consult, records
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
    "REPORT": lambda m, s, c: records.start(s, c, "help", "", m),
    "DELEGATION": lambda m, s, c: records.start(s, c, "delegation", "", m),
    "MY_RECORDS": lambda m, s, c: records.handle(m.__class__(openid=m.openid, kind="text", text="我的办件"), s, c),
}


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
    if event == "click":
        action = CLICKS.get(message.key)
        if action is None:
            return Reply(ctx.render("common/unknown_click.txt") + "\n\n" + help_text(ctx))
        session.pop("flow", None)
        return action(message, session, ctx)
    # view, location reports, template delivery reports ...: nothing to say
    return Reply("")


def on_media(message: Message, session: dict[str, Any], ctx: Context) -> Reply:
    return Reply(ctx.render("common/media.txt", kind=message.kind, center=ctx.kb.center))


def is_global_word(message: Message, session: dict[str, Any], ctx: Context) -> bool:
    text = message.text.strip()
    return bool(HELP_WORDS.match(text) or CANCEL_WORDS.match(text))


def on_global_word(message: Message, session: dict[str, Any], ctx: Context) -> Reply:
    text = message.text.strip()
    if CANCEL_WORDS.match(text):
        had_flow = bool(session.pop("flow", None))
        session.pop("slots", None)
        return Reply(ctx.render("common/cancelled.txt", had_flow=had_flow))
    return Reply(help_text(ctx))
