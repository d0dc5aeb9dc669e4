"""The one owner of Redis: key names, Lua scripts, TTLs, and the named operations the app needs.

A package by aggregate over one connection (connection.py): messages and sessions (messages.py), the
outbox (outbox.py), scheduled jobs (jobs.py), bookings (bookings.py), records (records.py), staff
(staff.py), the knowledge base's ledgers (ledgers.py) and WeChat's access token (tokens.py). Each Lua
script is a `.lua` file in this directory, registered once when a Store is built. `Store` gathers them
behind one facade; it implements handlers.context.Storage, what the conversation needs of storage.

Key layout (prefix `centerbot:`; keys used together share a {hash tag} so the code runs on Cluster):
  {u:<openid>}:session          JSON conversation session, expires after SESSION_TTL
  {u:<openid>}:profile          hash: first_seen, last_seen (for WeChat's 48-hour window)
  {u:<openid>}:seen:<msg key>   JSON state of a delivered message, for exactly-once handling
  {outbox}:seq / :msg:<id> / :due / :sent / :failed / :user:<openid>
                                 messages the worker sends through the WeChat API
  {wechat}:token:<appid> / :token-lock
                                 the shared access token and its refresh lock
  {kb}:unanswered                sorted set: questions the knowledge base could not answer, by count
  {kb}:referrals                 sorted set by time: the referral and refusal ledger (否定报备)
  {bk:<resource>:<yyyymmdd>}:slot:<HHMM> / :person:<openid> / :bookings / :seq / :idem:<key>
                                 one resource-day: seats held per slot, a person's codes that day,
                                 the bookings (code -> JSON); booked and cancelled by Lua scripts
  {u:<openid>}:bookings / :noshows
                                 a person's booking codes by start time; their no-shows by time
  {bookings}:day:<yyyymmdd>      every booking code of a day, for staff
  {staff}:roster / :by-openid    staff members (name -> JSON) and who an openid is
  {staff}:away / :holders        away periods (name -> JSON [[start, end], ...]); the A/B holders set
                                 live over center.yaml's ("type:<id>" / "window:<id>" -> JSON)
  {sched}:due / :inflight / :attempts / :failed
                                 scheduled jobs (reminders, escalations) by due time; jobs leased to a
                                 worker by lease deadline; how often each was taken; jobs given up
  {rec}:r:<no> / :h:<no> / :done:<no> / :seq:<yyyymmdd> / :open / :staff:<name> / :user:<openid> / :idem:<key>
                                 first-responder records and delegation cases: the record, its
                                 append-only history, the one-time changes and steps already made
                                 (escalations, takeover, registration), numbering, open records by due
                                 time, per-staff and per-citizen indexes; one hash tag, so a change is
                                 one transaction
  {u:<openid>}:consents          hash: the subscribe-message templates the user agreed to or refused (consents.py)
  {u:<openid>}:rating            the record (or booking) a citizen is asked to rate
  {rate}:by-ref / :bookings      好差评 of bookings (code -> JSON) and their codes by time (ratings.py)
  {cal}:years / :version / :once:<what>
                                 the imported holiday notices by year, a version every process
                                 watches, one-time steps (calendar.py: CalendarStore)
  {asked}:log / :e:<id>          what citizens asked: consultation questions, scrubbed, with how they went
  {kb}:overlay / :rev / :version / :changes / :log, {kbvec}:v / :lock
                                 the center-made matters over the YAML, their history, the shared
                                 passage vectors (knowledge.py)
  {console}:session:<hash> / {limit}:… / {u:<openid>}:records-day:<yyyymmdd> / {staff}:bindcode:<id>
                                 console sessions, try limits, a citizen's records per day and 绑定
                                 codes (access.py)
"""
from __future__ import annotations

import threading

import redis

from bot.store.asked import AskedLog
from bot.store.access import AccessStore
from bot.store.bookings import BOOKING_KEEP, IDEMPOTENCY_TTL, BookingStore, BookResult, booking_code_parts
from bot.store.consents import Consents
from bot.store.connection import PREFIX, REDIS_SCHEMES, Connection, Unreachable, connect, lua
from bot.store.jobs import JOB_LEASE, JOB_MAX_ATTEMPTS, Jobs
from bot.store.ledgers import Ledgers
from bot.store.messages import CLAIM_LEASE, PROFILE_TTL, SEEN_TTL, SESSION_TTL, Messages, Seen
from bot.store.outbox import OUTBOX_KEEP, OUTBOX_LEASE, OUTBOX_MAX_ATTEMPTS, SENT_HISTORY, Outbox, OutboxItem
from bot.store.ratings import RatingStore
from bot.store.records import RECORD_IDEMPOTENCY_TTL, RecordStore
from bot.store.staff import Staff
from bot.store.tokens import Tokens, TokenStorage
from handlers.clock import Clock
from handlers.privacy import mask_phones

__all__ = [
    "AccessStore", "BOOKING_KEEP", "CLAIM_LEASE", "IDEMPOTENCY_TTL", "JOB_LEASE", "JOB_MAX_ATTEMPTS", "OUTBOX_KEEP",
    "OUTBOX_LEASE", "OUTBOX_MAX_ATTEMPTS", "PREFIX", "PROFILE_TTL", "RECORD_IDEMPOTENCY_TTL", "REDIS_SCHEMES",
    "SEEN_TTL", "SENT_HISTORY", "SESSION_TTL", "BookResult", "BookingStore", "OutboxItem", "RatingStore", "RecordStore",
    "Seen", "Store", "TokenStorage", "Unreachable", "booking_code_parts", "connect", "mask_phones",
]


class Store(Messages, Outbox, Jobs, Staff, Ledgers, Tokens, Consents, Connection):
    """Named operations over Redis; nothing else in the app issues Redis commands."""

    def __init__(self, client: redis.Redis, clock: Clock | None = None, prefix: str = PREFIX):
        self.r = client
        self.clock = clock or Clock()
        self.prefix = prefix
        self._later = threading.local()
        for part in (Messages, Outbox, Jobs, Consents, BookingStore, RecordStore, AccessStore):
            for attr, name in part.SCRIPTS.items():
                setattr(self, attr, self.r.register_script(lua(name)))

    @property
    def bookings(self) -> BookingStore:
        return BookingStore(self)

    @property
    def records(self) -> RecordStore:
        return RecordStore(self)

    @property
    def asked(self) -> AskedLog:
        """What citizens asked (asked.py)."""
        return AskedLog(self)

    @property
    def ratings(self) -> RatingStore:
        return RatingStore(self)

    @property
    def access(self) -> AccessStore:
        """Console sessions, try limits, records per citizen per day and 绑定 codes."""
        return AccessStore(self)
