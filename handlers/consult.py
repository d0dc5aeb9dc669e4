"""Consultation: find the matter a question is about and give its complete one-time notification."""
from __future__ import annotations

import logging
import re
import threading
from typing import Any

import redis

from handlers import intent, record_form
from handlers.context import Context
from handlers.message import Message, Reply
from handlers.render import WECHAT_TEXT_LIMIT, split_by_bytes, utf8_len
from knowledge.matcher import material_parts
from knowledge.schema import Material, Matter

PICK = "consult.pick"
CHECK = "consult.check"
CHECK_WORDS = re.compile(r"^(核对|检查|自查|核查|对一下|看看我的)(一下)?(材料|资料)|^(材料|资料)(核对|自查|检查|对一下)")
HAVE_WORDS = re.compile(r"^(我|我们|我家)?(已经)?(有|带了|准备了|准备好了|手上有|手里有)")
NONE_HELD = re.compile(r"^(都没有|没有|一个都没有|啥也没有|什么都没有)$")
ALL_HELD = re.compile(r"^(都有|全都有|全有|都齐了|都带了)$")
NONE_OF_THESE = re.compile(r"^(都不是|都不对|没有|不是|以上都不是|0)$")


# Rendered notifications: a pure function of the matter, its base and the public address, asked again and
# again. Kept for the base in use only, keyed by its version (bot.kb_live: a console edit moves it) and its
# identity (a reloaded base is a new object): another base empties the cache, so an edit shows at once and
# no old base stays pinned in memory; bounded.
_NOTICES: dict[tuple[str, str], tuple[Matter, object, Reply]] = {}
_NOTICE_BASE: list = [None, None]  # [the base the kept notifications come from, its version]
_NOTICE_LOCK = threading.Lock()
NOTICE_CACHE = 1024


def notification(matter: Matter, ctx: Context) -> Reply:
    """The one-time notification of a matter, whole; over WeChat's byte budget it goes in parts."""
    kb, key = ctx.kb, (matter.id, ctx.public_url)
    with _NOTICE_LOCK:
        if _NOTICE_BASE[0] is not kb or _NOTICE_BASE[1] != kb.version:
            _NOTICES.clear()
            _NOTICE_BASE[:] = [kb, kb.version]
        kept = _NOTICES.get(key)
    if kept is None or kept[0] is not matter or kept[1] is not ctx.render:
        kept = (matter, ctx.render, _notification(matter, ctx))
        with _NOTICE_LOCK:
            if _NOTICE_BASE[0] is kb and _NOTICE_BASE[1] == kb.version:  # still the base in use
                if len(_NOTICES) >= NOTICE_CACHE:
                    _NOTICES.clear()
                _NOTICES[key] = kept
    reply = kept[2]
    return Reply(reply.text, followups=list(reply.followups))


def _notification(matter: Matter, ctx: Context) -> Reply:
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


def with_line(reply: Reply, line: str) -> Reply:
    """A closing line under a reply: in the same message when it fits WeChat's limit, else after it."""
    if not reply.followups and utf8_len(reply.text) + utf8_len(line) + 1 <= WECHAT_TEXT_LIMIT:
        return Reply(reply.text.rstrip("\n") + "\n" + line, followups=reply.followups)
    return Reply(reply.text, followups=[*reply.followups, line])


def notify(matter: Matter, session: dict[str, Any], ctx: Context) -> Reply:
    """Give the notification and remember the matter, so "核对材料" can follow."""
    session.pop("flow", None)
    session.pop("slots", None)
    session["last_matter"] = matter.id
    return notification(matter, ctx)


def _asked(ctx: Context, question: str, outcome: str, matter: str = "", choices=()) -> str | None:
    """Keep the question for the keepers' queue (what citizens asked); never in the citizen's way."""
    try:
        return ctx.store.asked.log(question, outcome, matter, [m for m in choices])
    except redis.RedisError:
        return None


def answer(message: Message, session: dict[str, Any], ctx: Context) -> Reply:
    result = ctx.matcher.match(message.text)
    choices_ids = [c.matter.id for c in result.candidates[:5]]
    entry = None
    if result.outcome in ("answer", "ask", "fallback", "refer"):
        entry = _asked(ctx, message.text, result.outcome, result.best.id if result.outcome == "answer" else "",
                       choices_ids)
    if result.outcome == "answer":
        reply = notify(result.best, session, ctx)
        if result.runners_up:  # answer the likeliest, and let the citizen switch with one number
            choices = [result.best, *result.runners_up]
            session["flow"] = PICK
            session["slots"] = {"choices": [m.id for m in choices], "question": message.text[:200], "asked": entry,
                                "answered": True}
            reply = with_line(reply, ctx.render("consult/also.txt", matters=choices))
        return reply
    if result.outcome == "ask":
        if len(result.candidates) == 1:  # never a numbered list of one: answer it, and say so
            return with_line(notify(result.candidates[0].matter, session, ctx),
                             ctx.render("consult/if_not.txt", m=result.candidates[0].matter))
        reply = ask(session, ctx, [c.matter for c in result.candidates], message.text)
        session["slots"]["asked"] = entry
        return reply
    if result.outcome == "refer":
        return referral(message.text, result.unit, ctx)
    if result.outcome == "report":
        if ctx.kb.center.records is not None:  # 首问负责: record it and hand it to staff
            return record_form.start(session, ctx, record_form.classify(message.text), message.text, message)
        return Reply(ctx.render("consult/report.txt", center=ctx.kb.center))
    return fallback(message.text, ctx)


def _keep(log_it, *args) -> None:
    """Write to a ledger; when the store is down the citizen still gets the answer (the entry is lost)."""
    try:
        log_it(*args)
    except redis.RedisError:
        logging.getLogger(__name__).warning("ledger entry lost: store unavailable")


def referral(question: str, unit, ctx: Context) -> Reply:
    """首问负责: a matter handled elsewhere names the right unit, and the referral is registered."""
    _keep(ctx.store.log_referral, question, unit.id, "不属于本中心办理事项，告知到有权办理单位")
    return Reply(ctx.render("consult/referral.txt", unit=unit, center=ctx.kb.center))


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
            _keep(ctx.store.log_unanswered, slots["question"])
        if slots.get("asked"):
            _keep(ctx.store.asked.mark, slots["asked"], "none")
        return Reply(ctx.render("consult/none_of_these.txt", center=ctx.kb.center, categories=ctx.kb.categories))
    number = intent.NUMBERED.match(text)
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
            if slots.get("asked") and (index > 1 or not slots.get("answered")):
                # under an answer, another number is a runner-up chosen; in a list, the pick is noted
                _keep(ctx.store.asked.mark, slots["asked"], "runner_up" if slots.get("answered") else "unsure",
                      choices[index - 1].id)
            return notify(choices[index - 1], session, ctx)
        return Reply(ctx.render("consult/bad_number.txt", count=len(choices), matters=choices))
    named = ctx.matcher.find_by_name(text)
    if named is not None:
        return notify(named, session, ctx)
    if text in ctx.kb.categories:
        return ask(session, ctx, ctx.kb.in_category(text), template="consult/category.txt", category=text)
    return None  # a new question: let the dispatcher route it afresh


def fallback(question: str, ctx: Context) -> Reply:
    _keep(ctx.store.log_unanswered, question)
    return Reply(ctx.render("consult/fallback.txt", center=ctx.kb.center, categories=ctx.kb.categories))


def popular_matters(ctx: Context) -> list[Matter]:
    found = [ctx.kb.matters[i] for i in ctx.kb.center.popular if i in ctx.kb.matters]
    return found or list(ctx.kb.matters.values())[:5]


def popular(session: dict[str, Any], ctx: Context) -> Reply:
    return ask(session, ctx, popular_matters(ctx)[:5], template="consult/popular.txt")


def categories(session: dict[str, Any], ctx: Context) -> Reply:
    session["flow"] = PICK
    session["slots"] = {"choices": [], "categories": True}
    return Reply(ctx.render("consult/categories.txt", categories=ctx.kb.categories,
                            counts={c: len(ctx.kb.in_category(c)) for c in ctx.kb.categories}))


# -- the material self-check (补正 notice) ------------------------------------------------------
def all_materials(matter: Matter) -> list[tuple[str, Material]]:
    """Every material of a matter, the joint departments' included, as (department or "", material)."""
    return [("", m) for m in matter.materials] + [(d.name, m) for d in matter.joint_departments
                                                   for m in d.materials]


def is_check_request(message: Message, session: dict[str, Any], ctx: Context) -> bool:
    text = message.text.strip()
    if CHECK_WORDS.match(text):
        return True
    return bool(session.get("last_matter") and HAVE_WORDS.match(text) and session.get("flow") != CHECK)


def start_check(message: Message, session: dict[str, Any], ctx: Context) -> Reply | None:
    matter = ctx.kb.matters.get(session.get("last_matter", ""))
    if matter is None:
        return Reply(ctx.render("consult/check_which.txt"))
    items = all_materials(matter)
    if not items:
        return Reply(ctx.render("consult/check_result.txt", m=matter, missing=[], optional=[], center=ctx.kb.center))
    have = ctx.matcher.find_materials(message.text, [m.name for _, m in items])
    if have:
        return check_result(matter, have, session, ctx)
    if HAVE_WORDS.match(message.text.strip()) and not CHECK_WORDS.match(message.text.strip()):
        return None  # "我有个问题…": not about materials after all
    session["flow"] = CHECK
    session["slots"] = {"matter": matter.id}
    return Reply(ctx.render("consult/check_list.txt", m=matter, items=items))


def on_check(message: Message, session: dict[str, Any], ctx: Context) -> Reply | None:
    if not message.has_text:
        return None
    matter = ctx.kb.matters.get((session.get("slots") or {}).get("matter", ""))
    if matter is None:
        return None
    items = all_materials(matter)
    text = message.text.strip()
    every_part = {i: set(range(len(material_parts(m.name)))) for i, (_, m) in enumerate(items)}
    if NONE_HELD.match(text):
        have: dict[int, set[int]] = {}
    elif ALL_HELD.match(text):
        have = every_part
    elif re.fullmatch(r"[\d\s,，、.。和及]+", text):
        have = {int(n) - 1: every_part[int(n) - 1] for n in re.findall(r"\d+", text) if 1 <= int(n) <= len(items)}
        if not have:
            return Reply(ctx.render("consult/check_list.txt", m=matter, items=items))
    else:
        have = ctx.matcher.find_materials(text, [m.name for _, m in items])
        if not have:
            return None  # a new question: the dispatcher routes it afresh
    return check_result(matter, have, session, ctx)


def check_result(matter: Matter, have: dict[int, set[int]], session: dict[str, Any], ctx: Context) -> Reply:
    """One message with every missing required item and how to get it: the 补正 notice.

    `have` maps a material's index to the parts of its name the citizen holds; a material whose
    name lists several papers is missing the parts not held.
    """
    session.pop("flow", None)
    session.pop("slots", None)
    missing, optional = [], []
    for i, (dept, m) in enumerate(all_materials(matter)):
        parts = material_parts(m.name)
        lacking = [p for j, p in enumerate(parts) if j not in have.get(i, set())]
        if not lacking:
            continue
        if len(lacking) < len(parts):
            m = m.model_copy(update={"name": "、".join(lacking) + f"（属“{m.name}”）"})
        (missing if m.required else optional).append((dept, m))
    text = ctx.render("consult/check_result.txt", m=matter, missing=missing, optional=optional,
                      center=ctx.kb.center, window=ctx.kb.center.window(matter.window))
    if utf8_len(text) <= WECHAT_TEXT_LIMIT:
        return Reply(text)
    parts = split_by_bytes(text, WECHAT_TEXT_LIMIT)
    return Reply(parts[0], followups=parts[1:])
