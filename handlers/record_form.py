"""The citizen's side of records: a complaint, report, help request, suggestion or delegation request
started in plain words, its form (a slot, a validator and a prompt each; never a trap), progress
queries, a withdrawal, and the 好差评 rating; every operation itself is in handlers.records."""
from __future__ import annotations

import re
from typing import Any

from handlers import center, intent, names, notify
from handlers.contact import PHONE
from handlers.context import Context
from handlers.message import Message, Reply
from handlers.records import (CONDUCT, DELEGATE, FORM, OPEN, RATE_REASON, RATINGS, STATUS_LABEL, create, day_text,
                              delegated_matter, due_at, event, named_staff, timestamp_of, withdraw)

_VISIT = r"记者|媒体|采访|来访参观|考察团|代表团|参观考察|考察学习|学习考察|来中心参观|想来参观|参观学习"
_TRIGGERS = [("visit", re.compile(_VISIT)), ("consultation", re.compile(r"^(我要|我想)?留言")),
             ("report", re.compile(r"举报")), ("complaint", re.compile(r"投诉|态度|乱收费|推诿|不作为|刁难|服务差|踢皮球|推来推去")),
             ("suggestion", re.compile(r"建议|意见")), ("help", re.compile(r"求助|帮帮|救救|反映|坏了|没人管|没人修"))]
_START = intent.RECORD_START
_LEAD = re.compile(intent.RECORD_LEAD.pattern + "|" + _VISIT)
_MINE = intent.RECORDS_MINE
_QUERY = intent.RECORD_QUERY
_ACCUSE = re.compile(r"^(我要|我想|我来)?(投诉|举报)")  # "投诉代办员…" is a complaint, not a delegation request
_STAFF_WORDS = re.compile(r"代办员|工作人员|窗口|办事员|干部|领导|帮办员|首问")
_WITHDRAW_NO = re.compile(r"^(?:撤销|撤回|取消)(?:代办|帮办|委托|办件)?\s*([A-Z]{2}\d{8}-\d{4,})$", re.I)
_WITHDRAW_WORDS = re.compile(r"(撤销|撤回|取消|不用|不要|不需要|不想)(让|请|麻烦|叫)?(你们|您们|中心)?(帮我|给我|替我)?(再)?"
                             r"(代办|帮办|委托)"
                             r"|(代办|帮办|委托)(申请)?(我)?(不办了|不要了|不用了|不需要了|撤销|撤回|取消)")
_ANONYMOUS = re.compile(r"^(匿名|不留名|不想留名|不方便留名|不说)$")


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
    if _START.match(text) or _LEAD.search(text) or (CONDUCT.search(text) and _STAFF_WORDS.search(text)):
        return True
    if _rating_of(text) is not None and ctx.store.records.rating_asked(message.openid):
        return True
    return bool(DELEGATE.search(text))


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
                                kind=ctx.kb.center.records.types[record["type"]], fmt=day_text))
    rating = _rating_of(text)
    no = ctx.store.records.rating_asked(message.openid)  # also: a record needs the store, said up front when down
    if rating is not None and no:
        return rate(message, session, ctx, no, rating)
    if (CONDUCT.search(text) or _ACCUSE.match(text)) and not _START.match(text):
        return start(session, ctx, "report" if "举报" in text else "complaint", text, message)
    if intent.PROGRESS.search(text) or intent.RECORD_NO.search(text):
        return progress(message, ctx)  # a case named by its number is never a new case (a complaint naming one is taken above)
    if intent.HOW.search(text):
        return how(text, ctx)
    if DELEGATE.search(text):
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
                            kind=ctx.kb.center.records.types[record["type"]], fmt=day_text)
        return Reply(detail.rstrip("\n") + "\n" + ctx.render("records/progress_how.txt"))
    return Reply(ctx.render("records/mine.txt", records=mine[-10:], labels=STATUS_LABEL,
                            types=ctx.kb.center.records.types, center=ctx.kb.center))


def how(text: str, ctx: Context) -> Reply:
    """怎么投诉 / 帮办代办怎么申请 / 代办收费吗: what the service is and what it needs, then how to start."""
    cfg = ctx.kb.center.records
    kind_id = "delegation" if DELEGATE.search(text) else classify(text)
    if "留言" in text:
        kind_id = "consultation"
    kind = cfg.types.get(kind_id) or cfg.types["help"]
    return Reply(ctx.render("records/how.txt", type=kind_id, kind=kind, center=ctx.kb.center,
                            due=day_text(timestamp_of(due_at(ctx, kind.due_days)))))


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
                                due=day_text(record["due"]), center=ctx.kb.center))
    extra: dict[str, Any] = {}
    if kind in ("complaint", "report"):
        avoid = named_staff(ctx, form["content"], message.openid)
        if avoid:
            extra["avoid"] = avoid
        if CONDUCT.search(form["content"]):
            extra["conduct"] = "1"  # fees and conduct always reach the leaders
    record, _ = create(ctx, kind, message.openid, form["content"], form["name"], form["phone"],
                       f"{message.openid}:{message.dedup_key}", **extra)
    return Reply(ctx.render("records/confirmed.txt", r=record, kind=ctx.kb.center.records.types[kind],
                            due=day_text(record["due"]), center=ctx.kb.center))


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
        notify.staff(ctx, leader, text, f"daily-limit:{openid}:{day}", notice)
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
                           due=day_text(timestamp_of(due_at(ctx, kind.due_days))))
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
                                 event(ctx, "群众", "评价", RATINGS[rating - 1]))
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
                                 event(ctx, "群众", "差评原因", message.text.strip()[:300]))
        label = cfg.types[original["type"]].label
    content = f"{no}（{label}）评价为{original.get('rating_label', '')}：{message.text.strip()[:200]}"
    record, _ = create(ctx, "rectification", "", content, original.get("name", ""), original.get("phone", ""),
                       f"rectify:{no}", origin=no)
    return Reply(ctx.render("records/rectification.txt", r=record))
