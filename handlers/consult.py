"""Consultation: find the matter a question is about and give its complete one-time notification."""
from __future__ import annotations

import re
from typing import Any

from bot.render import WECHAT_TEXT_LIMIT, split_by_bytes, utf8_len
from handlers.context import Context
from handlers.message import Message, Reply
from knowledge.schema import Matter

PICK = "consult.pick"
NONE_OF_THESE = re.compile(r"^(都不是|都不对|没有|不是|以上都不是|0)$")
_NUMBER = re.compile(r"^\s*(\d{1,2})\s*$")


def notification(matter: Matter, ctx: Context) -> Reply:
    """The one-time notification of a matter, whole; over WeChat's byte budget it goes in parts."""
    window = ctx.kb.center.window(matter.window)
    full = ctx.render("consult/notice.txt", m=matter, window=window, center=ctx.kb.center,
                      url=ctx.notice_url(matter.id))
    if utf8_len(full) <= WECHAT_TEXT_LIMIT:
        return Reply(full)
    parts = split_by_bytes(full, WECHAT_TEXT_LIMIT - 40)
    labelled = [f"【{matter.name} 一次性告知 {i}/{len(parts)}】\n{p}" for i, p in enumerate(parts, 1)]
    short = ctx.render("consult/notice_short.txt", m=matter, window=window, center=ctx.kb.center,
                       url=ctx.notice_url(matter.id), parts=len(parts))
    return Reply(short, followups=labelled)


def answer(message: Message, session: dict[str, Any], ctx: Context) -> Reply:
    result = ctx.matcher.match(message.text)
    if result.outcome == "answer":
        return notification(result.candidates[0].matter, ctx)
    if result.outcome == "ask":
        return ask(session, ctx, [c.matter for c in result.candidates], message.text)
    return fallback(message.text, ctx)


def ask(session: dict[str, Any], ctx: Context, matters: list[Matter], question: str = "",
        template: str = "consult/ask.txt", **extra) -> Reply:
    """Offer a numbered list; the next message picks by number or name, or says none fits."""
    session["flow"] = PICK
    session["slots"] = {"choices": [m.id for m in matters], "question": question[:200]}
    return Reply(ctx.render(template, matters=matters, **extra))


def on_pick(message: Message, session: dict[str, Any], ctx: Context) -> Reply | None:
    if not message.has_text:
        return None
    slots = session.get("slots") or {}
    choices = [ctx.kb.matters[i] for i in slots.get("choices", []) if i in ctx.kb.matters]
    text = message.text.strip()
    if NONE_OF_THESE.match(text):
        session.pop("flow", None)
        session.pop("slots", None)
        if slots.get("question"):
            ctx.store.log_unanswered(slots["question"])
        return Reply(ctx.render("consult/none_of_these.txt", center=ctx.kb.center, categories=ctx.kb.categories))
    number = _NUMBER.match(text)
    if number and slots.get("categories"):
        index = int(number[1])
        if 1 <= index <= len(ctx.kb.categories):
            category = ctx.kb.categories[index - 1]
            return ask(session, ctx, ctx.kb.in_category(category), template="consult/category.txt",
                       category=category)
        return Reply(ctx.render("consult/categories.txt", categories=ctx.kb.categories,
                                counts={c: len(ctx.kb.in_category(c)) for c in ctx.kb.categories}))
    if number:
        index = int(number[1])
        if 1 <= index <= len(choices):
            session.pop("flow", None)
            session.pop("slots", None)
            return notification(choices[index - 1], ctx)
        return Reply(ctx.render("consult/bad_number.txt", count=len(choices), matters=choices))
    named = ctx.matcher.find_by_name(text)
    if named is not None:
        session.pop("flow", None)
        session.pop("slots", None)
        return notification(named, ctx)
    if text in ctx.kb.categories:
        return ask(session, ctx, ctx.kb.in_category(text), template="consult/category.txt", category=text)
    return None  # a new question: let the dispatcher route it afresh


def fallback(question: str, ctx: Context) -> Reply:
    ctx.store.log_unanswered(question)
    return Reply(ctx.render("consult/fallback.txt", center=ctx.kb.center, categories=ctx.kb.categories))


def popular_matters(ctx: Context) -> list[Matter]:
    found = [ctx.kb.matters[i] for i in ctx.kb.center.popular]
    return found or list(ctx.kb.matters.values())[:5]


def popular(session: dict[str, Any], ctx: Context) -> Reply:
    return ask(session, ctx, popular_matters(ctx)[:5], template="consult/popular.txt")


def categories(session: dict[str, Any], ctx: Context) -> Reply:
    session["flow"] = PICK
    session["slots"] = {"choices": [], "categories": True}
    return Reply(ctx.render("consult/categories.txt", categories=ctx.kb.categories,
                            counts={c: len(ctx.kb.in_category(c)) for c in ctx.kb.categories}))
