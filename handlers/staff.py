"""Staff commands on WeChat: 待办, 接单, 回复, 转办, 办结, 终止, 延期, 补正, and 绑定 for a new member."""
from __future__ import annotations

import re
from typing import Any

from handlers import binding, records
from handlers.context import Context
from handlers.message import Message, Reply

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
}
_VERB = re.compile(r"^(待办|接单|回复|转办|办结|终止|延期|补正|办理)")
_BIND = re.compile(r"^绑定\s*(\w{4,32})\s*$")


def matches(message: Message, session: dict[str, Any], ctx: Context) -> bool:
    text = message.text.strip()
    if _BIND.match(text):
        return True
    return bool(_VERB.match(text)) and ctx.store.staff_by_openid(message.openid) is not None


def handle(message: Message, session: dict[str, Any], ctx: Context) -> Reply:
    text = message.text.strip()
    bind = _BIND.match(text)
    if bind:
        return binding.bind(message, ctx, bind[1])
    staff = ctx.store.staff_by_openid(message.openid)
    if text == "待办":
        mine = [r for r in ctx.store.records.of_staff(staff["name"]) if r["status"] in records.OPEN]
        mine.sort(key=lambda r: float(r["due"]))
        return Reply(ctx.render("staff/todo.txt", records=mine, labels=records.STATUS_LABEL,
                                types=ctx.kb.center.records.types, fmt=records._date))
    verb = _VERB.match(text)[1]
    m = COMMANDS[verb].match(text)
    if not m:
        return Reply(ctx.render("staff/usage.txt", verb=verb))
    no = m[1].upper()
    try:
        if verb == "接单":
            record = records.take(ctx, staff, no)
        elif verb == "回复":
            record = records.reply(ctx, staff, no, m[2].strip())
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
        else:
            items = [i for i in re.split(r"[、,，;；\n]+", m[2]) if i.strip()]
            record = records.correction(ctx, staff, no, [i.strip() for i in items])
    except records.NotAllowed as why:
        return Reply(str(why))
    return Reply(ctx.render("staff/done.txt", verb=verb, r=record, labels=records.STATUS_LABEL,
                            fmt=records._date))
