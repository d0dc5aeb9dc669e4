"""Staff commands on WeChat: 待办, 接单, 回复, 转办, 办结, 终止, 延期 (and a leader's 待审批, 同意延期/不同意延期),
补正, and 绑定 for a new member."""
from __future__ import annotations

import re
from typing import Any

from handlers import applications, appointments, binding, records
from handlers.context import Context
from handlers.message import Message, Reply
from handlers.privacy import mask_name, mask_phones
from handlers.render import WECHAT_TEXT_LIMIT, utf8_len

_NO = r"([A-Za-z]{2}\d{8}-\d{4,})"
COMMANDS = {
    "接单": re.compile(rf"^接单\s*{_NO}\s*$"),
    "回复": re.compile(rf"^回复\s*{_NO}\s+(.+)$", re.S),
    "转办": re.compile(rf"^转办\s*{_NO}\s+(\S+)\s*$"),
    "办结": re.compile(rf"^办结\s*{_NO}\s+(.+)$", re.S),
    "终止": re.compile(rf"^终止\s*{_NO}\s+(.+)$", re.S),
    "延期": re.compile(rf"^延期\s*{_NO}\s+(\d{{1,9}})\s*(?:天|个工作日)?\s+(.+)$", re.S),
    "补正": re.compile(rf"^补正\s*{_NO}\s+(.+)$", re.S),
    "办理": re.compile(rf"^办理\s*{_NO}\s*$"),
    "退回": re.compile(rf"^退回\s*{_NO}\s+(.+)$", re.S),
    "确认": re.compile(rf"^确认\s*{_NO}\s*(.*)$", re.S),
    "改约": re.compile(rf"^改约\s*{_NO}\s+(.+)$", re.S),
    "同意延期": re.compile(rf"^同意延期\s*{_NO}\s*$"),
    "不同意延期": re.compile(rf"^(?:不同意|驳回)延期\s*{_NO}\s*(.*)$", re.S),
}
_REGISTER = re.compile(r"^登记\s*(\S{2})\s+(\S+)\s+(?:(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|无|未留)\s+)?(.+)$", re.S)
_APPLICATION = {
    "受理": re.compile(r"^受理\s*(\S+)\s+(\S+)\s+(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})\s*$"),
    "不予受理": re.compile(r"^不予受理\s*(\S+)\s+(\S+)\s+(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})\s+(.+)$", re.S),
}
_VERB = re.compile(r"^(受理|不予受理|退回|登记|待办|接单|回复|转办|办结|终止|延期|补正|办理|确认|改约|同意延期|不同意延期|驳回延期)")
ITEM_SEPARATORS = re.compile(r"[、,，;；\s]+")  # 补正 items: spaces and 、 separate items too
_BIND = re.compile(r"^绑定\s*(\w{4,32})\s*$")
# a leader's list of the 延期 requests waiting for their 同意延期/不同意延期 (like 待办: one word)
PENDING_EXTENSIONS = re.compile(r"^(待审批|待批延期|延期待批|待审批延期)[。？?]?$")
REASON_CHARS = 40  # of a request's reason in the list (the whole on the record's console page)


# Verbs that are also everyday words (确认一下…, 登记结婚…): a command only with a space or a record number
_EVERYDAY = re.compile(r"^(登记|受理|不予受理|退回|确认|改约)(?!\s|[A-Za-z]{2}\d{8})")


def matches(message: Message, session: dict[str, Any], ctx: Context) -> bool:
    text = message.text.strip()
    if _BIND.match(text):
        return True
    if PENDING_EXTENSIONS.match(text):
        return ctx.store.staff_by_openid(message.openid) is not None
    if _EVERYDAY.match(text):
        return False
    return bool(_VERB.match(text)) and ctx.store.staff_by_openid(message.openid) is not None


def handle(message: Message, session: dict[str, Any], ctx: Context) -> Reply:
    text = message.text.strip()
    bind = _BIND.match(text)
    if bind:
        return binding.bind(message, ctx, bind[1])
    staff = ctx.store.staff_by_openid(message.openid)
    if text.startswith("登记"):
        return register(message, staff, text, ctx)
    if text.startswith(("受理", "不予受理")):
        return application(message, staff, text, ctx)
    if PENDING_EXTENSIONS.match(text):
        return pending_extensions(staff, ctx)
    if text == "待办":
        mine = [r for r in ctx.store.records.of_staff(staff["name"]) if r["status"] in records.OPEN]
        mine.sort(key=lambda r: float(r["due"]))
        return Reply(ctx.render("staff/todo.txt", records=mine, labels=records.STATUS_LABEL,
                                types=ctx.kb.center.records.types, fmt=records.day_text))
    verb = _VERB.match(text)[1].replace("驳回延期", "不同意延期")
    m = COMMANDS[verb].match(text)
    if not m:
        return Reply(ctx.render("staff/usage.txt", verb=verb))
    no = m[1].upper()
    try:
        if verb == "接单":
            record = records.take(ctx, staff, no)
        elif verb == "回复":
            record = records.reply(ctx, staff, no, m[2].strip())
            if record.get("callback"):
                return Reply(ctx.render("staff/call_back.txt", r=record))
        elif verb == "转办":
            record = records.transfer(ctx, staff, no, m[2])
        elif verb == "办结":
            record = records.finish(ctx, staff, no, m[2].strip())
        elif verb == "终止":
            record = records.terminate(ctx, staff, no, m[2].strip())
        elif verb == "办理":
            record = records.resume(ctx, staff, no)
        elif verb == "延期":
            record = records.extend(ctx, staff, no, int(m[2]), m[3].strip())
            if record.get("extension"):
                return Reply(ctx.render("staff/extension_asked.txt", r=record, fmt=records.day_text))
        elif verb == "退回":
            record = applications.send_back(ctx, staff, no, m[2])
            return Reply(ctx.render("staff/application_done.txt", r=record, url=applications.notice_url(ctx, record),
                                    fmt=records.day_text))
        elif verb in ("确认", "改约"):
            record = appointments.confirm(ctx, staff, no, m[2].strip(), propose=verb == "改约")
            return Reply(ctx.render("staff/appointment_set.txt", r=record, verb=verb))
        elif verb in ("同意延期", "不同意延期"):
            record = records.decide_extension(ctx, staff, no, verb == "同意延期", m[2].strip() if m.lastindex > 1 else "")
            verb = "批准延期" if verb == "同意延期" else "驳回延期"
        else:
            items = [i.strip() for i in ITEM_SEPARATORS.split(m[2]) if i.strip()]
            record, reached = records.correction(ctx, staff, no, items)
            if not reached:
                return Reply(ctx.render("staff/correction_not_sent.txt", r=record, items=items))
    except records.NotAllowed as why:
        return Reply(str(why))
    return Reply(ctx.render("staff/done.txt", verb=verb, r=record, labels=records.STATUS_LABEL,
                            fmt=records.day_text))


def register(message: Message, staff: dict, text: str, ctx: Context) -> Reply:
    """`登记 投诉 张三 13800138000 内容…`: a record taken down from a phone call or a visit."""
    m = _REGISTER.match(text)
    if not m or m[1] not in records.REGISTER_TYPES:
        return Reply(ctx.render("staff/register_usage.txt", types=records.REGISTER_TYPES))
    phone = "" if m[3] in (None, "无", "未留") else m[3]
    try:
        record = records.register(ctx, staff, records.REGISTER_TYPES[m[1]], m[2], phone, m[4],
                                  f"{message.openid}:{message.dedup_key}")
    except records.NotAllowed as why:
        return Reply(str(why))
    return Reply(ctx.render("staff/registered.txt", r=record, kind=ctx.kb.center.records.types[record["type"]],
                            fmt=records.day_text))


def application(message: Message, staff: dict, text: str, ctx: Context) -> Reply:
    """`受理 事项 姓名 电话` (a 承诺件 and its 承诺通知单) or `不予受理 事项 姓名 电话 理由` (the written reason)."""
    verb = "不予受理" if text.startswith("不予受理") else "受理"
    m = _APPLICATION[verb].match(text)
    if not m:
        return Reply(ctx.render("staff/application_usage.txt"))
    key = f"{message.openid}:{message.dedup_key}"
    try:
        if verb == "受理":
            record = applications.accept(ctx, staff, m[1], m[2], m[3], key)
        else:
            record = applications.refuse(ctx, staff, m[1], m[2], m[3], m[4], key)
    except records.NotAllowed as why:
        return Reply(str(why))
    return Reply(ctx.render("staff/application_done.txt", r=record, url=applications.notice_url(ctx, record),
                            fmt=records.day_text))


def pending_extensions(staff: dict, ctx: Context) -> Reply:
    """`待审批`: the 延期 requests waiting for a leader, oldest first, numbered, citizens' names and phone
    numbers masked; as many as 2048 bytes hold, then how many more and where to see them (never cut)."""
    if not records.is_leader(ctx, staff):
        return Reply(ctx.render("staff/extensions.txt", leader=False, items=[], more=0))
    store = ctx.store.records
    waiting = [r for r in (store.get(no) for no in store.open_numbers()) if r and r.get("extension")]
    waiting.sort(key=lambda r: float(r["extension"].get("at", 0)))
    types = ctx.kb.center.records.types
    items = []
    for r in waiting:
        x = r["extension"]
        reason = mask_phones(str(x.get("reason", "")))
        items.append({"no": r["no"], "type": types[r["type"]].label if r["type"] in types else r["type"],
                      "name": mask_name(r.get("name", "")), "by": x.get("by", ""), "days": x.get("days", ""),
                      "reason": reason if len(reason) <= REASON_CHARS else reason[:REASON_CHARS] + "…",
                      "due": records.day_text(r["due"])})

    def render(shown: int) -> str:
        return ctx.render("staff/extensions.txt", leader=True, items=items[:shown], more=len(items) - shown,
                          console=f"{ctx.public_url}/staff/")

    lo, hi = 0, len(items)  # the most items whose list fits (the rendering grows with each item)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if utf8_len(render(mid)) <= WECHAT_TEXT_LIMIT:
            lo = mid
        else:
            hi = mid - 1
    return Reply(render(lo))
