"""Window applications (办件) and their written notices (seed 000 一次性告知 第四条, 限时办结 第三条, 第五条):
an accepted 承诺件 gets a 承诺通知单 with its number, matter and promised date in working days; a refusal
(不予受理, 退回) gets a written notice with the reason, once, and is registered in the 否定报备 ledger. The
citizen follows the application on WeChat with `查询 <编号> <电话后四位>`."""
from __future__ import annotations

import secrets
from typing import Any

from handlers import records
from handlers.context import Context

KIND = "application"


def _matter(ctx: Context, text: str):
    matter = ctx.kb.matters.get(text.strip())
    if matter is None:
        result = ctx.matcher.match(text)
        matter = result.best if result.outcome == "answer" else None
    if matter is None:
        raise records.NotAllowed(f"没有找到事项“{text[:20]}”，请写事项名称，例如：受理 低保 王大妈 13700001111。")
    return matter


def notice_url(ctx: Context, record: dict) -> str:
    return f"{ctx.public_url}/application/{record['no']}?k={record.get('token', '')}"


def accept(ctx: Context, staff: dict, matter_text: str, name: str, phone: str, idempotency: str) -> dict:
    """Record an accepted 承诺件: the accepting clerk holds it; due by the matter's promised working days."""
    matter = _matter(ctx, matter_text)
    if matter.time_limit.promised_days == 0:
        raise records.NotAllowed(f"{matter.name}是即办件，应当场办结，无需出具承诺通知单。")
    window = ctx.kb.center.window(matter.window)
    return records.register(ctx, staff, KIND, name, phone, f"{matter.type}：{matter.name}", idempotency,
                            channel="窗口", matter=matter.id, window=window.id if window else "",
                            a=staff["name"], b="", token=secrets.token_urlsafe(12), decision="accepted")


def refuse(ctx: Context, staff: dict, matter_text: str, name: str, phone: str, reason: str, idempotency: str) -> dict:
    """不予受理 at the window: a closed application with its reason in writing, in the 否定报备 ledger."""
    reason = reason.strip()[:300]
    if not reason:
        raise records.NotAllowed("不予受理须写明理由。")
    matter = _matter(ctx, matter_text)
    record = records.register(ctx, staff, KIND, name, phone, f"不予受理：{matter.name}", idempotency, channel="窗口",
                              matter=matter.id, a=staff["name"], b="", token=secrets.token_urlsafe(12),
                              decision="refused")
    if record["status"] in records.OPEN:
        record = records.terminate(ctx, staff, record["no"], f"不予受理：{reason}")
        ctx.store.log_referral(matter.name, matter.window, f"不予受理（{record['no']}）：{reason}", kind="refusal")
    return record


def send_back(ctx: Context, staff: dict, no: str, reason: str) -> dict:
    """退回 an accepted application that does not meet the conditions: once, with the reason in writing."""
    reason = reason.strip()[:300]
    if not reason:
        raise records.NotAllowed("退回须写明理由。")
    record = records._load_for(ctx, staff, no)
    if record["type"] != KIND:
        raise records.NotAllowed(f"{record['no']} 不是窗口办件，不能退回。")
    record = records.terminate(ctx, staff, record["no"], f"退回：{reason}")
    matter = ctx.kb.matters.get(record.get("matter") or "")
    ctx.store.log_referral(matter.name if matter else record["content"], record.get("window", ""),
                           f"退回（{record['no']}）：{reason}", kind="refusal")
    return record


def link_citizen(ctx: Context, openid: str, record: dict, last4: str) -> bool:
    """A citizen proves a record staff registered for them (a window application, a phone call) is theirs
    with the last four digits of its phone: from then on its progress and replies reach them on WeChat."""
    phone = record.get("phone", "")
    if not record.get("registered_by") or not phone or not last4 or phone[-4:] != last4:
        return False
    if not record.get("openid"):
        ctx.store.records.claim(record["no"], openid)
    return record.get("openid") in ("", openid)


def page_values(ctx: Context, record: dict) -> dict[str, Any]:
    matter = ctx.kb.matters.get(record.get("matter") or "")
    return {"r": record, "m": matter, "window": ctx.kb.center.window(matter.window) if matter else None,
            "center": ctx.kb.center, "created": records.day_text(record["created"]), "due": records.day_text(record["due"]),
            "closed": records.day_text(record["closed"]) if record.get("closed") else "",
            "days": record.get("days"), "labels": records.STATUS_LABEL}
