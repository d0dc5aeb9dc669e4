"""The background worker: runs scheduled jobs (reminders) and sends the outbox through the WeChat API
with retry and backoff."""
from __future__ import annotations

import logging
import threading

import requests
from wechatpy.exceptions import WeChatClientException

from bot.store import OUTBOX_MAX_ATTEMPTS, OutboxItem, Store
from bot.wechat_api import CenterClient
from handlers.notify import template_message

log = logging.getLogger(__name__)

BACKOFF = (5, 30, 120, 600, 1800)  # seconds before attempts 2, 3, ...
# WeChat errors that no retry can fix: outside the 48-hour window, unknown openid, user refused.
PERMANENT = {45015, 40003, 43004, 43019, 40013}


def retry_delay(attempts_so_far: int) -> float | None:
    """Seconds until the next try after `attempts_so_far` failed tries, or None to give up."""
    if attempts_so_far + 1 >= OUTBOX_MAX_ATTEMPTS:
        return None
    return float(BACKOFF[min(attempts_so_far, len(BACKOFF) - 1)])


def run_jobs(ctx) -> int:
    """Carry out the jobs due now (reminders, escalations); each job runs once, on one worker."""
    from handlers import booking, notify, records  # the jobs speak the conversation's language

    done = 0
    for job in ctx.store.take_due_jobs():
        kind = job.get("kind", "")
        if kind.startswith("record_"):
            done += records.run_job(ctx, job)
        elif kind == "booking_reminder":
            found = booking.reminder_text(job, ctx)
            if found is not None:
                done += notify.citizen(ctx, found[0], found[1], f"job:{kind}:{job['code']}", title="预约提醒")
        else:
            log.warning("unknown job kind %r dropped", kind)
    return done


OUT_OF_WINDOW = 45015  # the user has not written for 48 hours: customer-service messages are refused


class OutboxSender:
    def __init__(self, store: Store, client: CenterClient | None, template_id: str | None = None):
        self.store = store
        self.client = client
        self.template_id = template_id

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
                note = ""
                if code == OUT_OF_WINDOW and item.kind == "text" and self.template_id:
                    self.store.enqueue(item.openid, "template",
                                       template_message(self.template_id, str(item.payload.get("content", ""))),
                                       dedup=f"{item.id}:template")
                    note = "; sent as a template message instead"
                self.store.mark_attempt_failed(item.id, f"errcode {code}: {exc.errmsg}{note}", retry)
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

    def run_forever(self, stop: threading.Event, interval: float = 1.0, ctx=None) -> None:
        if self.client is None:
            log.warning("WECHAT_APP_ID/WECHAT_APP_SECRET not set: the outbox is kept, not sent "
                        "(see `centerbot outbox list`)")
        while not stop.is_set():
            try:
                if ctx is not None:
                    run_jobs(ctx)
                busy = self.run_once()
            except Exception:  # a Redis outage must not kill the worker; it resumes when Redis returns
                log.exception("outbox round failed")
                busy = 0
            stop.wait(0 if busy else interval)
