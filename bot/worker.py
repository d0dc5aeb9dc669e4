"""The background worker: runs scheduled jobs (reminders) and sends the outbox through the WeChat API
with retry and backoff."""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time

import redis
import requests
from wechatpy.exceptions import WeChatClientException

from bot.store import JOB_LEASE, JOB_MAX_ATTEMPTS, OUTBOX_LEASE, OUTBOX_MAX_ATTEMPTS, OutboxItem, Store
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


def run_job(ctx, job: dict) -> bool:
    """Carry out one job; True when it did something new. Safe to run twice: every effect is idempotent."""
    from handlers import appointments, booking, calendar_change, notify, records  # the jobs speak the conversation's language

    kind = job.get("kind", "")
    if kind.startswith("record_"):
        return records.run_job(ctx, job)
    if kind.startswith("appointment_"):
        return appointments.run_job(ctx, job)
    if kind == "booking_rating":
        return booking.rating_request(job, ctx)
    if kind == "calendar_changed":
        return calendar_change.run(ctx, job)
    if kind == "booking_reminder":
        found = booking.reminder_text(job, ctx)
        # the dedup key makes a second run (a worker died before acknowledging the job) a no-op
        return found is not None and notify.citizen(ctx, found[0], found[1], f"job:{kind}:{job['code']}",
                                                    title="预约提醒")
    log.warning("unknown job kind %r dropped", kind)
    return False


def watch_calendar(ctx) -> list[int]:
    """Warn in the log when the next 90 days reach a year with no official holiday arrangement; in
    November and December remind the leaders, once per year across all workers, to import next year's
    notice. Returns the years missing."""
    from bot.calendar_import import missing_years
    from bot.store.calendar import CalendarStore

    missing = missing_years(ctx)
    cals = CalendarStore(ctx.store)
    if missing and cals.once("law-days"):
        # the first run since statutory days are known for unlisted years: before, such a year counted
        # Monday-Friday, so bookings may stand on 元旦 or 春节 and due dates count them; move them once
        changed = law_days_once_counted_as_working(ctx)
        if changed:
            ctx.store.schedule({"kind": "calendar_changed", "version": "law", "changed": changed},
                               ctx.clock.timestamp())
    for year in missing:
        log.warning("calendar: the next 90 days reach %s, whose holiday arrangement is not imported: statutory "
                    "holidays only (centerbot calendar import NOTICE.txt, or the console's 节假日 page)", year)
    today = ctx.clock.today()
    coming = today.year + 1
    if today.month in (11, 12) and not ctx.calendar.known(coming):
        if not cals.done(f"remind:{coming}"):
            text = ctx.render("staff/calendar_reminder.txt", year=coming, center=ctx.kb.center)
            names = set(ctx.kb.center.records.leaders if ctx.kb.center.records else [])
            names |= {s["name"] for s in ctx.store.staff_list() if s.get("role") in ("leader", "admin")}
            for name in sorted(names):
                member = ctx.store.staff(name)
                if member:  # the dedup key makes two workers' reminders one message
                    ctx.store.enqueue(member["openid"], "text", {"content": text},
                                      dedup=f"calendar:remind:{coming}:{member['openid']}")
            cals.once(f"remind:{coming}")
    return missing


def law_days_once_counted_as_working(ctx, days: int = 400) -> list[str]:
    """The statutory days off of years without an official arrangement that fall on the center's
    weekdays, from today on: the days an earlier release counted as working days."""
    today = ctx.clock.today()
    out = []
    for n in range(days):
        day = today + dt.timedelta(days=n)
        if ctx.calendar.known(day.year):
            continue
        before = day.isoweekday() in ctx.kb.center.hours.weekdays
        if before != ctx.calendar.is_workday(day):
            out.append(day.isoformat())
    return out


def run_jobs(ctx, lease: float = JOB_LEASE) -> int:
    """Carry out the jobs due now (reminders, escalations), effectively once each.

    A job is leased, run, then acknowledged: a worker killed before the acknowledgement leaves the job
    to be taken again when the lease runs out, and the job's idempotent effects make that run a no-op
    where the first one got. A job that raises stays leased and is retried after the lease, up to
    JOB_MAX_ATTEMPTS takes; then it is set aside in `{sched}:failed`."""
    done = 0
    for job, attempts in ctx.store.take_due_jobs(lease=lease):
        if attempts > JOB_MAX_ATTEMPTS:
            log.error("job %s failed %d times: set aside", job, attempts - 1)
            ctx.store.give_up_job(job)
            continue
        try:
            done += run_job(ctx, job)
        except Exception:
            log.exception("job %s failed (attempt %d); retried after its lease", job, attempts)
            continue
        ctx.store.finish_job(job)
    return done


OUT_OF_WINDOW = 45015  # the user has not written for 48 hours: customer-service messages are refused


class OutboxSender:
    """Sends the outbox: at least once per message, and twice only in one narrow window.

    A message is leased (`claim_due`) before it is sent and marked sent (`mark_sent`) right after
    WeChat accepts it. WeChat's send API has no idempotency key, so a worker killed (kill -9, OOM,
    power loss) after WeChat accepted a message but before `mark_sent` reached Redis leaves it leased
    but unsent, and another worker sends it again when the lease runs out: the citizen may get it
    twice. Nothing else repeats a message: the window is one HTTP response plus one Redis round trip;
    a message is only sent while at least half its lease is left, so a live worker's send never
    overlaps another worker's retry of it; `mark_sent` is retried through a brief Redis outage; and
    SIGTERM stops the worker between messages, never inside a send.
    """

    def __init__(self, store: Store, client: CenterClient | None, template_id: str | None = None,
                 lease: float = OUTBOX_LEASE):
        self.store = store
        self.client = client
        self.template_id = template_id
        self.lease = lease

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
        leased_until = time.monotonic() + self.lease / 2
        for item in self.store.claim_due(lease=self.lease):
            if time.monotonic() > leased_until:
                break  # the rest go out after their lease, by whichever worker takes them
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
                self._mark_sent(item.id)
                sent += 1
        return sent

    def _mark_sent(self, msg_id: str, tries: int = 5) -> None:
        """WeChat has the message: note it at once, through a brief Redis outage too, so that it is not
        sent again when its lease runs out."""
        for attempt in range(tries):
            try:
                self.store.mark_sent(msg_id)
                return
            except redis.RedisError:
                if attempt == tries - 1:
                    raise
                time.sleep(0.2 * 2 ** attempt)

    def run_forever(self, stop: threading.Event, interval: float = 1.0, ctx=None,
                    calendar_every: float = 3600.0) -> None:
        if self.client is None:
            log.warning("WECHAT_APP_ID/WECHAT_APP_SECRET not set: the outbox is kept, not sent "
                        "(see `centerbot outbox list`)")
        next_calendar_look = 0.0
        while not stop.is_set():
            try:
                current = ctx() if callable(ctx) else ctx  # the context in use (live reload)
                if current is not None and time.monotonic() >= next_calendar_look:
                    next_calendar_look = time.monotonic() + calendar_every
                    watch_calendar(current)
                if current is not None:
                    run_jobs(current, lease=self.lease)
                busy = self.run_once()
            except Exception:  # a Redis outage must not kill the worker; it resumes when Redis returns
                log.exception("outbox round failed")
                busy = 0
            stop.wait(0 if busy else interval)
