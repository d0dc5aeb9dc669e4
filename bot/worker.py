"""The background worker: runs scheduled jobs (reminders) and sends the outbox through the WeChat API
with retry and backoff."""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any, Callable

import redis
import requests
from wechatpy.exceptions import WeChatClientException

from bot.store import JOB_LEASE, JOB_MAX_ATTEMPTS, OUTBOX_LEASE, OUTBOX_MAX_ATTEMPTS, OutboxItem, Store
from bot.store.delivery import CS_WINDOW, DeliveryStore
from bot.wechat_api import CenterClient
from handlers.notify import PRIORITY, Notice, fallback_data
from handlers.render import WECHAT_TEXT_LIMIT, utf8_len

log = logging.getLogger(__name__)

BACKOFF = (5, 30, 120, 600, 1800)  # seconds before attempts 2, 3, ...
# WeChat errors that no retry can fix: outside the 48-hour window, unknown openid, user refused or
# unsubscribed (43004, 43019; 43101: no agreement to the subscribe message), invalid appid, a message
# WeChat finds malformed (47003: a field breaks its rules) or a template id it does not know (40037).
PERMANENT = {45015, 40003, 43004, 43019, 40013, 43101, 47003, 40037}


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
        return found is not None and notify.citizen(ctx, found[0], found[1], f"job:{kind}:{job['code']}", found[2])
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
            notice = Notice(number=str(coming), subject=(f"{coming}年节假日安排待导入", "节假日安排待导入"),
                            status="待导入", time=ctx.clock.timestamp(),
                            hint=("请在控制台“节假日”页导入", "请在控制台导入"), kind="reminder")
            for name in sorted(names):
                member = ctx.store.staff(name)
                if member:  # the dedup key makes two workers' reminders one message
                    ctx.store.enqueue(member["openid"], "text", {"content": text, "notice": notice.to_dict(),
                                                                 "priority": PRIORITY["reminder"]},
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
OUT_OF_QUOTA = 45047  # the customer-service messages the user's last message allows are used up
USER_REFUSES = 43101  # a subscribe message the user has not agreed to (or no longer)
PARK = 60.0  # a text waiting for its user to write again is looked at again this often (seconds)
SEPARATOR = "\n\n"  # between texts merged into one customer-service message


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

    Since 2023 a user's message lets the account send that user only 5 customer-service messages in
    the next 48 hours (WeChat answers 45047 beyond). So the texts due for one user are merged into as
    few messages as WeChat's 2048 bytes allow, the most urgent first (the rest of an answer, then a
    record's result, its progress, reminders: `handlers.notify.PRIORITY`), and each is counted against
    the user's allowance (`DeliveryStore.take`, which starts again when the user writes). A text that
    finds the allowance spent or the 48 hours over goes as the center's template or subscribe message
    (center.yaml `notifications:`, tried in order; a subscribe message only to a user who agreed to
    that template, bot/store/consents.py) when it carries a notice's facts; else it waits for the user to
    write again (after 48 hours, or outside the window, it fails and stays listed for staff).
    """

    def __init__(self, store: Store, client: CenterClient | None, center: Callable[[], Any] | None = None,
                 lease: float = OUTBOX_LEASE):
        self.store = store
        self.client = client
        self.center = center or (lambda: None)  # the knowledge base's Center, read at each send (live)
        self.lease = lease
        self.delivery = DeliveryStore(store)

    def send(self, item: OutboxItem) -> None:
        """Send one message as it is queued (a text uncounted, or a ready template message)."""
        if item.kind == "text":
            self.client.message.send_text(item.openid, item.payload["content"])
        elif item.kind == "template":
            self.client.message.send_template(item.openid, item.payload["template_id"], item.payload["data"],
                                              url=item.payload.get("url"))
        elif item.kind == "subscribe":
            self.client.message.send_subscribe_message(item.openid, item.payload["template_id"],
                                                       item.payload["data"], page=item.payload.get("url"))
        else:
            raise ValueError(f"unknown outbox kind {item.kind!r}")

    def run_once(self) -> int:
        """Send what is due now; returns how many queued messages went out (merged ones each count)."""
        if self.client is None:
            return 0
        sent = 0
        leased_until = time.monotonic() + self.lease / 2
        due = self.store.claim_due(lease=self.lease)
        texts_to = sorted({item.openid for item in due if item.kind == "text"})
        order = self.delivery.queue_order(texts_to) if texts_to else {}
        for batch in bundles(due, order):
            if time.monotonic() > leased_until:
                break  # the rest go out after their lease, by whichever worker takes them
            if batch[0].kind == "text":
                sent += self._send_texts(batch)
            else:
                sent += self._send_one(batch[0])
        return sent

    # -- customer-service texts -------------------------------------------------------------------
    def _send_texts(self, batch: list[OutboxItem]) -> int:
        openid = batch[0].openid
        allowance = self.delivery.take(openid)
        if not allowance.may_send:
            return sum(self._instead(item, allowance.verdict) for item in batch)
        try:
            self.client.message.send_text(openid, SEPARATOR.join(item.payload["content"] for item in batch))
        except WeChatClientException as exc:
            self.delivery.give_back(openid)
            if exc.errcode == OUT_OF_QUOTA:
                log.info("outbox: WeChat says the customer-service messages for a user are used up (45047)")
                self.delivery.spend(openid)
                return sum(self._instead(item, "spent") for item in batch)
            if exc.errcode == OUT_OF_WINDOW:
                return sum(self._instead(item, "closed") for item in batch)
            for item in batch:
                self._wechat_error(item, exc)
            return 0
        except (requests.RequestException, OSError) as exc:
            self.delivery.give_back(openid)
            for item in batch:
                self._transport_error(item, exc)
            return 0
        for item in batch:
            self._mark_sent(item.id)
            if len(batch) > 1:
                self.delivery.note_sent_as(item.id, f"text merged with {len(batch) - 1} more")
        return len(batch)

    def _instead(self, item: OutboxItem, verdict: str) -> int:
        """A text WeChat will not take now: the center's template or subscribe messages, in the order
        center.yaml lists them, when the text carries a notice (a subscribe message only to a user who
        agreed to that template); else wait for the user to write (or fail: outside the 48 hours)."""
        center = self.center()
        notice = item.payload.get("notice")
        fallbacks = getattr(center, "fallbacks", []) if notice else []
        for config in fallbacks:
            sent = self._send_fallback(item, config, Notice.from_dict(notice), center.name)
            if sent is not None:
                return sent
        if verdict == "closed":
            self.store.mark_attempt_failed(item.id, f"errcode {OUT_OF_WINDOW}: outside WeChat's 48 hours since "
                                           "the user last wrote, and no template message configured nor a "
                                           "subscribe message the user agreed to", None)
        elif self.store.clock.timestamp() - item.created > CS_WINDOW:
            self.store.mark_attempt_failed(item.id, f"errcode {OUT_OF_QUOTA}: the user did not write again "
                                           "within 48 hours", None)
        else:
            self.delivery.park(item.id, self.store.clock.timestamp() + PARK,
                               f"waiting for the user to write: the {self.delivery.limit} customer-service "
                               f"messages their last message allows are used (errcode {OUT_OF_QUOTA})")
        return 0

    def _send_fallback(self, item: OutboxItem, config, notice: Notice, center_name: str) -> int | None:
        """1 sent, 0 failed (retried or given up as any send), None: this one cannot reach the user (a
        subscribe message they did not agree to, or WeChat says they refuse it), try the next."""
        data = fallback_data(config, notice, center_name, self.store.clock.now().tzinfo)
        subscribe = config.kind == "subscribe"
        if subscribe and not self.store.take_subscribe(item.openid, config.template_id, config.long_term):
            return None
        try:
            if subscribe:
                self.client.message.send_subscribe_message(item.openid, config.template_id, data, page=config.url)
            else:
                self.client.message.send_template(item.openid, config.template_id, data, url=config.url)
        except WeChatClientException as exc:
            if subscribe and exc.errcode == USER_REFUSES:  # withdrawn where we did not hear it
                log.info("outbox %s: WeChat says the user refuses subscribe message %s (43101): noted",
                         item.id, config.template_id)
                self.store.note_subscribe_choice(item.openid, config.template_id, accepted=False)
                return None
            if subscribe:
                self.store.give_back_subscribe(item.openid, config.template_id, config.long_term)
            self._wechat_error(item, exc, note=f" (as a {config.kind} message)")
            return 0
        except (requests.RequestException, OSError) as exc:
            if subscribe:
                self.store.give_back_subscribe(item.openid, config.template_id, config.long_term)
            self._transport_error(item, exc)
            return 0
        self._mark_sent(item.id)
        self.delivery.note_sent_as(item.id, f"{config.kind} message")
        self.delivery.note_fallback(item.openid)
        return 1

    # -- one message as queued --------------------------------------------------------------------
    def _send_one(self, item: OutboxItem) -> int:
        try:
            self.send(item)
        except WeChatClientException as exc:
            self._wechat_error(item, exc)
        except (requests.RequestException, OSError) as exc:
            self._transport_error(item, exc)
        except ValueError as exc:
            self.store.mark_attempt_failed(item.id, str(exc), None)
        else:
            self._mark_sent(item.id)
            return 1
        return 0

    def _wechat_error(self, item: OutboxItem, exc: WeChatClientException, note: str = "") -> None:
        code = exc.errcode
        retry = None if code in PERMANENT else retry_delay(item.attempts)
        log.warning("outbox %s: WeChat error %s%s; %s", item.id, code, note,
                    "giving up" if retry is None else f"retry in {retry:.0f}s")
        self.store.mark_attempt_failed(item.id, f"errcode {code}: {exc.errmsg}{note}", retry)

    def _transport_error(self, item: OutboxItem, exc: Exception) -> None:
        retry = retry_delay(item.attempts)
        log.warning("outbox %s: %s", item.id, type(exc).__name__)
        self.store.mark_attempt_failed(item.id, type(exc).__name__, retry)

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


def bundles(items: list[OutboxItem], order: dict[str, int] | None = None) -> list[list[OutboxItem]]:
    """The due messages as sends: each user's texts, most urgent first (by `priority` in the payload,
    then as queued: `order` gives each id's place), merged into as few messages of at most 2048 bytes as their order allows; every
    other message alone. A text too long to share a message goes alone (it is never cut)."""
    out: list[list[OutboxItem]] = []
    texts: dict[str, list[OutboxItem]] = {}
    for item in items:
        if item.kind == "text" and isinstance(item.payload.get("content"), str):
            texts.setdefault(item.openid, []).append(item)
        else:
            out.append([item])
    for user_items in texts.values():
        user_items.sort(key=lambda i: (int(i.payload.get("priority", 0)), i.created, (order or {}).get(i.id, -1)))
        current: list[OutboxItem] = []
        size = 0
        for item in user_items:
            n = utf8_len(item.payload["content"])
            if current and size + utf8_len(SEPARATOR) + n <= WECHAT_TEXT_LIMIT:
                current.append(item)
                size += utf8_len(SEPARATOR) + n
                continue
            if current:
                out.append(current)
            current, size = [item], n
        if current:
            out.append(current)
    return out
