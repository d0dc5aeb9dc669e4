"""The background worker: runs scheduled jobs (reminders) and sends the outbox through the WeChat API
with retry and backoff."""
from __future__ import annotations

import logging
import threading

import requests
from wechatpy.exceptions import WeChatClientException

from bot.store import OUTBOX_MAX_ATTEMPTS, OutboxItem, Store
from bot.wechat_api import CenterClient

log = logging.getLogger(__name__)

BACKOFF = (5, 30, 120, 600, 1800)  # seconds before attempts 2, 3, ...
# WeChat errors that no retry can fix: outside the 48-hour window, unknown openid, user refused.
PERMANENT = {45015, 40003, 43004, 43019, 40013}


def retry_delay(attempts_so_far: int) -> float | None:
    """Seconds until the next try after `attempts_so_far` failed tries, or None to give up."""
    if attempts_so_far + 1 >= OUTBOX_MAX_ATTEMPTS:
        return None
    return float(BACKOFF[min(attempts_so_far, len(BACKOFF) - 1)])


WINDOW = 48 * 3600  # WeChat accepts customer-service messages this long after the user's last message


def run_jobs(ctx, template_id: str | None = None) -> int:
    """Turn the jobs due now into outbox messages; each job runs once, on one worker."""
    from handlers import booking, records  # the jobs speak the conversation's language

    queued = 0
    for job in ctx.store.take_due_jobs():
        if job.get("kind", "").startswith("record_"):
            queued += records.run_job(ctx, job)
            continue
        if job.get("kind") != "booking_reminder":
            log.warning("unknown job kind %r dropped", job.get("kind"))
            continue
        found = booking.reminder_text(job, ctx)
        if found is None:
            continue
        openid, text = found
        dedup = f"job:{job['kind']}:{job['code']}"
        last_seen = float(ctx.store.profile(openid).get("last_seen", 0))
        if ctx.clock.timestamp() - last_seen < WINDOW:
            ctx.store.enqueue(openid, "text", {"content": text}, dedup=dedup)
        elif template_id:
            ctx.store.enqueue(openid, "template", {"template_id": template_id, "data": {
                "first": {"value": "预约提醒"}, "remark": {"value": text[:60]}}}, dedup=dedup)
        else:
            log.info("reminder %s not sent: outside the 48-hour window and no template configured", job["code"])
            continue
        queued += 1
    return queued


class OutboxSender:
    def __init__(self, store: Store, client: CenterClient | None):
        self.store = store
        self.client = client

    def send(self, item: OutboxItem) -> None:
        if item.kind == "text":
            self.client.message.send_text(item.openid, item.payload["content"])
        elif item.kind == "template":
            self.client.message.send_template(item.openid, item.payload["template_id"], item.payload["data"],
                                              url=item.payload.get("url"))
        else:
            raise ValueError(f"unknown outbox kind {item.kind!r}")

    def run_once(self) -> int:
        """Send what is due now; returns how many messages were sent."""
        if self.client is None:
            return 0
        sent = 0
        for item in self.store.claim_due():
            try:
                self.send(item)
            except WeChatClientException as exc:
                code = exc.errcode
                retry = None if code in PERMANENT else retry_delay(item.attempts)
                log.warning("outbox %s: WeChat error %s; %s", item.id, code,
                            "giving up" if retry is None else f"retry in {retry:.0f}s")
                self.store.mark_attempt_failed(item.id, f"errcode {code}: {exc.errmsg}", retry)
            except (requests.RequestException, OSError) as exc:
                retry = retry_delay(item.attempts)
                log.warning("outbox %s: %s", item.id, type(exc).__name__)
                self.store.mark_attempt_failed(item.id, type(exc).__name__, retry)
            except ValueError as exc:
                self.store.mark_attempt_failed(item.id, str(exc), None)
            else:
                self.store.mark_sent(item.id)
                sent += 1
        return sent

    def run_forever(self, stop: threading.Event, interval: float = 1.0, ctx=None,
                    template_id: str | None = None) -> None:
        if self.client is None:
            log.warning("WECHAT_APP_ID/WECHAT_APP_SECRET not set: the outbox is kept, not sent "
                        "(see `centerbot outbox list`)")
        while not stop.is_set():
            try:
                if ctx is not None:
                    run_jobs(ctx, template_id)
                busy = self.run_once()
            except Exception:  # a Redis outage must not kill the worker; it resumes when Redis returns
                log.exception("outbox round failed")
                busy = 0
            stop.wait(0 if busy else interval)
