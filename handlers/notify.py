"""Messages the center sends a citizen on its own initiative: a customer-service text inside WeChat's
48-hour window, else a template message when the center configured one, else kept for staff to see."""
from __future__ import annotations

import logging

from handlers.context import Context

log = logging.getLogger(__name__)

WINDOW = 48 * 3600  # WeChat accepts customer-service messages this long after the user's last message


def template_message(template_id: str, text: str, title: str = "中心消息提醒") -> dict:
    """A template message carrying a text's gist: fields show about 20 characters each."""
    return {"template_id": template_id, "data": {"first": {"value": title}, "keyword1": {"value": text[:20]},
                                                 "remark": {"value": "回复任意消息查看详情"}}}


def citizen(ctx: Context, openid: str, text: str, dedup: str, title: str = "办事进度提醒") -> bool:
    """Queue `text` for a citizen; False when WeChat offers no way to reach them now."""
    if not openid or openid.startswith("phone:"):  # registered by staff: answered by phone
        return False
    last_seen = float(ctx.store.profile(openid).get("last_seen", 0))
    if ctx.clock.timestamp() - last_seen < WINDOW:
        ctx.store.enqueue(openid, "text", {"content": text}, dedup=dedup)
        return True
    if ctx.notice_template:
        ctx.store.enqueue(openid, "template", template_message(ctx.notice_template, text, title), dedup=dedup)
        return True
    log.info("citizen message %s kept: outside the 48-hour window and no template configured", dedup)
    ctx.store.enqueue(openid, "text", {"content": text}, dedup=dedup)  # kept in the outbox; sending will fail visibly
    return False
