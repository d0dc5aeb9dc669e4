"""The one owner of Redis: key names, Lua scripts, TTLs, and the named operations the app needs.

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
  {sched}:due / :inflight / :attempts / :failed
                                 scheduled jobs (reminders, escalations) by due time; jobs leased to a
                                 worker by lease deadline; how often each was taken; jobs given up
  {rec}:r:<no> / :h:<no> / :done:<no> / :seq:<yyyymmdd> / :open / :staff:<name> / :user:<openid> / :idem:<key>
                                 first-responder records and delegation cases: the record, its
                                 append-only history, the one-time changes and steps already made
                                 (escalations, takeover, registration), numbering, open records by due
                                 time, per-staff and per-citizen indexes; one hash tag, so a change is
                                 one transaction
  {u:<openid>}:rating            the record a citizen is asked to rate
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

from bot.clock import Clock

if TYPE_CHECKING:
    from bot.access_store import AccessStore

PREFIX = "centerbot"
SESSION_TTL = 30 * 60
SEEN_TTL = 10 * 60  # WeChat retries within ~15 s; keep the answer well beyond that
# A live handler answers or defers within the webhook's 4-second budget; a message still pending this
# many seconds after its claim was being handled by a process that died, and WeChat's retry takes it over.
CLAIM_LEASE = 8
PROFILE_TTL = 180 * 24 * 3600
OUTBOX_KEEP = 14 * 24 * 3600
OUTBOX_LEASE = 120  # seconds a worker owns a claimed message before another may retry it
OUTBOX_MAX_ATTEMPTS = 6
JOB_LEASE = 120  # seconds a worker owns a scheduled job before another may run it again
JOB_MAX_ATTEMPTS = 5  # takes of a job (crashes or errors included) before it is set aside
SENT_HISTORY = 2000

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_phones(text: str) -> str:
    """Hide the middle four digits of mainland mobile numbers: 138****8000."""
    return _PHONE.sub(lambda m: f"{m[1]}****{m[3]}", text)


def _session(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster", "redis+sentinel",
                 "rediss+sentinel")
_TIMEOUTS = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}


def connect(url: str) -> redis.Redis | RedisCluster:
    """A client for `url`, whichever way the center runs Redis:

    redis://[:password@]host:port/db, rediss://…, unix:///path/redis.sock
        one server (TLS with rediss://)
    redis+cluster://[:password@]host:port[,host:port…]   (rediss+cluster:// for TLS)
        a Redis Cluster, found from any of its nodes; every key the app uses together shares a hash tag
    redis+sentinel://[:password@]host:port[,host:port…]/<master name>[/db][?sentinel_password=…]
        the current master of a replicated set, asked of its Sentinels, followed through failovers
        (the password is the master's; Sentinels that require one take `sentinel_password`)
    """
    scheme, _, rest = url.partition("://")
    if scheme not in REDIS_SCHEMES:
        raise ValueError(f"REDIS_URL scheme {scheme!r} is not one of {', '.join(REDIS_SCHEMES)}")
    base, _, topology = scheme.partition("+")
    if not topology:
        return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30, **_TIMEOUTS)
    parts = urlsplit(f"{base}://{rest}")
    password = unquote(parts.password) if parts.password else None
    username = unquote(parts.username) if parts.username else None
    hosts = [_host_port(h, 26379 if topology == "sentinel" else 6379)
             for h in parts.netloc.rpartition("@")[2].split(",") if h]
    if not hosts:
        raise ValueError(f"REDIS_URL {scheme}:// names no host")
    tls = {"ssl": True} if base == "rediss" else {}
    if topology == "cluster":
        return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in hosts], decode_responses=True,
                            username=username, password=password, **tls, **_TIMEOUTS)
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError("REDIS_URL redis+sentinel:// needs the master's name: …/<master name>[/db]")
    db = int(path[1]) if len(path) > 1 else 0
    sentinel_password = parse_qs(parts.query).get("sentinel_password", [None])[0]
    sentinel = Sentinel(hosts, sentinel_kwargs={"password": sentinel_password, **tls, **_TIMEOUTS},
                        **tls, **_TIMEOUTS)
    return sentinel.master_for(path[0], db=db, decode_responses=True, username=username, password=password,
                               health_check_interval=30)


def _host_port(text: str, default: int) -> tuple[str, int]:
    host, _, port = text.strip().rpartition(":") if ":" in text else (text.strip(), "", "")
    return host.strip("[]"), int(port) if port else default


@dataclass(frozen=True)
class Seen:
    """What the store knows of a delivered message: new to us, being handled, or answered.

    A new message comes with the user's session, read in the same round trip."""

    state: str  # "new", "pending", "done", "deferred"
    reply: str | None = None
    session: dict[str, Any] | None = None


@dataclass(frozen=True)
class OutboxItem:
    id: str
    openid: str
    kind: str
    payload: dict[str, Any]
    status: str
    attempts: int
    created: float
    last_error: str = ""

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> "OutboxItem":
        return cls(
            id=h["id"], openid=h["openid"], kind=h["kind"], payload=json.loads(h["payload"]),
            status=h.get("status", "queued"), attempts=int(h.get("attempts", 0)),
            created=float(h.get("created", 0)), last_error=h.get("last_error", ""),
        )


# Take a seat: all keys share the resource-day hash tag, so this runs on Redis Cluster too.
# KEYS: slot set, person-day set, bookings hash, sequence, idempotency key
# ARGV: capacity, per-person-per-day limit, code prefix, booking JSON, idempotency TTL
# Returns {outcome, code} and, for a duplicate, the stored booking.
_BOOK = """
local seen = redis.call('GET', KEYS[5])
if seen then return {'duplicate', seen, redis.call('HGET', KEYS[3], seen) or ''} end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[1]) then return {'full', ''} end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[2]) then
  return {'daily_limit', redis.call('SRANDMEMBER', KEYS[2])}
end
local seq = redis.call('INCR', KEYS[4])
local code = ARGV[3] .. string.format('%02d', seq)
local booking = cjson.decode(ARGV[4])
booking['code'] = code
redis.call('SADD', KEYS[1], code)
redis.call('SADD', KEYS[2], code)
redis.call('HSET', KEYS[3], code, cjson.encode(booking))
redis.call('SET', KEYS[5], code, 'EX', tonumber(ARGV[5]))
return {'ok', code}
"""

# Move a booking between states; `free` gives its seat back at once.
# KEYS: slot set, person-day set, bookings hash
# ARGV: code, allowed current states (comma separated), new state, free (1/0), extra fields JSON
_TRANSITION = """
local raw = redis.call('HGET', KEYS[3], ARGV[1])
if not raw then return {'missing', ''} end
local booking = cjson.decode(raw)
local allowed = ',' .. ARGV[2] .. ','
if not string.find(allowed, ',' .. booking['status'] .. ',', 1, true) then
  return {'state', booking['status']}
end
booking['status'] = ARGV[3]
for k, v in pairs(cjson.decode(ARGV[5])) do booking[k] = v end
local out = cjson.encode(booking)
redis.call('HSET', KEYS[3], ARGV[1], out)
if ARGV[4] == '1' then
  redis.call('SREM', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[2], ARGV[1])
end
return {'ok', out}
"""

# Create a record once. KEYS: record, history, open index, staff set, user list, idempotency key, all
# ARGV: record number, record JSON fields (flat), history entry, due timestamp, idempotency TTL
_CREATE_RECORD = """
if redis.call('SET', KEYS[6], ARGV[1], 'NX', 'EX', tonumber(ARGV[5])) == false then
  return redis.call('GET', KEYS[6])
end
local fields = cjson.decode(ARGV[2])
for k, v in pairs(fields) do redis.call('HSET', KEYS[1], k, v) end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], tonumber(ARGV[4]), ARGV[1])
if KEYS[4] ~= KEYS[1] then redis.call('SADD', KEYS[4], ARGV[1]) end
if KEYS[5] ~= KEYS[1] then redis.call('RPUSH', KEYS[5], ARGV[1]) end
redis.call('ZADD', KEYS[7], tonumber(ARGV[6]), ARGV[1])
return ARGV[1]
"""

# Lease the jobs due now, and the jobs whose lease ran out (their worker died before acknowledging
# them), to one caller: each moves to the in-flight set with its lease deadline, and its take is counted.
# KEYS: due, in-flight, attempts (all {sched})
# ARGV: now, lease deadline, limit
# Returns job, attempts, job, attempts, ...
_TAKE_JOBS = """
local limit = tonumber(ARGV[3])
local jobs = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, limit)
if #jobs < limit then
  for _, job in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, limit - #jobs)) do
    table.insert(jobs, job)
  end
end
local out, seen = {}, {}
for _, job in ipairs(jobs) do
  if not seen[job] then
    seen[job] = true
    redis.call('ZREM', KEYS[1], job)
    redis.call('ZADD', KEYS[2], ARGV[2], job)
    table.insert(out, job)
    table.insert(out, redis.call('HINCRBY', KEYS[3], job, 1))
  end
end
return out
"""

# Claim a delivered message for handling, or take over a claim whose handler died (pending past its
# lease); else say how it went. KEYS: seen key, session (both {u:<openid>}); ARGV: claim JSON, TTL, now
# Returns {'new', session JSON} or {'seen', seen JSON}.
_CLAIM_MESSAGE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', tonumber(ARGV[2])) then
  local raw = redis.call('GET', KEYS[1]) or ''
  local ok, seen = pcall(cjson.decode, raw)
  if not (ok and type(seen) == 'table' and seen['state'] == 'pending' and tonumber(seen['until'] or '')
          and tonumber(seen['until']) < tonumber(ARGV[3])) then
    return {'seen', raw}
  end
  redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
end
return {'new', redis.call('GET', KEYS[2]) or ''}
"""

# Queue an outbox message unless one with its id (a dedup key) exists already.
# KEYS: message hash, due set, the user's list (all {outbox}); ARGV: fields JSON (strings), now, keep seconds
_ENQUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local item = cjson.decode(ARGV[1])
for k, v in pairs(item) do redis.call('HSET', KEYS[1], k, v) end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('ZADD', KEYS[2], ARGV[2], item['id'])
redis.call('RPUSH', KEYS[3], item['id'])
redis.call('LTRIM', KEYS[3], -50, -1)
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[3]))
return 1
"""

_CLAIM_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""


class Store:
    """Named operations over Redis; nothing else in the app issues Redis commands."""

    def __init__(self, client: redis.Redis, clock: Clock | None = None, prefix: str = PREFIX):
        self.r = client
        self.clock = clock or Clock()
        self.prefix = prefix
        self._claim_due = self.r.register_script(_CLAIM_DUE)
        self._enqueue = self.r.register_script(_ENQUEUE)
        self._claim_message = self.r.register_script(_CLAIM_MESSAGE)
        self._book = self.r.register_script(_BOOK)
        self._transition = self.r.register_script(_TRANSITION)
        self._take_jobs = self.r.register_script(_TAKE_JOBS)
        self._create_record = self.r.register_script(_CREATE_RECORD)

    # -- key names -------------------------------------------------------------------------
    def key(self, tag: str, *parts: str) -> str:
        return ":".join((self.prefix, "{" + tag + "}", *parts))

    def _user(self, openid: str, *parts: str) -> str:
        return self.key(f"u:{openid}", *parts)

    def ping(self) -> bool:
        return bool(self.r.ping())

    # -- sessions and profiles -----------------------------------------------------------------
    def load_session(self, openid: str) -> dict[str, Any]:
        return _session(self.r.get(self._user(openid, "session")))

    def save_session(self, openid: str, session: dict[str, Any]) -> None:
        """Store the session and note the user's interaction, in one round trip."""
        pipe = self.r.pipeline(transaction=True)
        self._save_session(pipe, openid, session)
        pipe.execute()

    def _save_session(self, pipe, openid: str, session: dict[str, Any]) -> None:
        now = self.clock.timestamp()
        if session:
            pipe.set(self._user(openid, "session"), json.dumps(session, ensure_ascii=False), ex=SESSION_TTL)
        else:
            pipe.delete(self._user(openid, "session"))
        profile = self._user(openid, "profile")
        pipe.hsetnx(profile, "first_seen", now)
        pipe.hset(profile, "last_seen", now)
        pipe.expire(profile, PROFILE_TTL)

    def profile(self, openid: str) -> dict[str, str]:
        return self.r.hgetall(self._user(openid, "profile"))

    def forget_user(self, openid: str) -> None:
        """On unsubscribe: delete the user's session and profile (records are kept, unlinked)."""
        self.r.delete(self._user(openid, "session"), self._user(openid, "profile"), self._user(openid, "rating"),
                      self._user(openid, "bookings"), self._user(openid, "noshows"))
        self.records.unlink_user(openid)

    # -- exactly-once delivery ------------------------------------------------------------------
    def claim_message(self, openid: str, msg_key: str) -> Seen:
        """Mark a message as being handled, in one round trip with its session; if it was seen
        before, say how it went.

        A claim is held for CLAIM_LEASE seconds: a process killed while handling the message leaves it
        pending, and WeChat's retry after that takes it over and handles it again (what the dead
        process stored is idempotent: bookings and records carry the message's idempotency key)."""
        now = self.clock.timestamp()
        state, raw = self._claim_message(
            keys=[self._user(openid, "seen", msg_key), self._user(openid, "session")],
            args=[json.dumps({"state": "pending", "until": now + CLAIM_LEASE}), SEEN_TTL, now])
        if state == "new":
            return Seen("new", session=_session(raw))
        data = json.loads(raw) if raw else {"state": "pending"}
        return Seen(data.get("state", "pending"), data.get("reply"))

    def finish_message(self, openid: str, msg_key: str, state: str, reply: str | None = None,
                       session: dict[str, Any] | None = None) -> None:
        """Keep the answer for WeChat's retries and, given one, save the session: one round trip."""
        key = self._user(openid, "seen", msg_key)
        pipe = self.r.pipeline(transaction=True)
        pipe.set(key, json.dumps({"state": state, "reply": reply}, ensure_ascii=False), ex=SEEN_TTL)
        if session is not None:
            self._save_session(pipe, openid, session)
        pipe.execute()

    def release_message(self, openid: str, msg_key: str) -> None:
        """Forget a claim whose handling failed, so WeChat's retry may try again."""
        self.r.delete(self._user(openid, "seen", msg_key))

    # -- outbox -----------------------------------------------------------------------------
    def _ob(self, *parts: str) -> str:
        return self.key("outbox", *parts)

    def enqueue(self, openid: str, kind: str, payload: dict[str, Any], dedup: str | None = None) -> str:
        """Queue a message for the worker; with `dedup`, the same message is queued once only."""
        now = self.clock.timestamp()
        msg_id = dedup or uuid.uuid4().hex
        key = self._ob("msg", msg_id)
        item = {"id": msg_id, "openid": openid, "kind": kind, "status": "queued", "attempts": "0",
                "created": repr(now), "payload": json.dumps(payload, ensure_ascii=False)}
        # one script, so that two runs of the same job (a worker died before acknowledging it) cannot
        # both find the key missing and queue the message twice
        self._enqueue(keys=[key, self._ob("due"), self._ob("user", openid)],
                      args=[json.dumps(item, ensure_ascii=False), now, OUTBOX_KEEP])
        return msg_id

    def claim_due(self, limit: int = 20, lease: float = OUTBOX_LEASE) -> list[OutboxItem]:
        """Lease the messages due now to this worker; a crashed worker's lease runs out and they return."""
        now = self.clock.timestamp()
        ids = self._claim_due(keys=[self._ob("due")], args=[now, now + lease, limit])
        return [item for item in self.outbox_items(ids) if item.status in ("queued", "retrying")]

    def outbox_items(self, ids: list[str]) -> list[OutboxItem]:
        pipe = self.r.pipeline(transaction=False)
        for msg_id in ids:
            pipe.hgetall(self._ob("msg", msg_id))
        return [OutboxItem.from_hash(h) for h in pipe.execute() if h]

    def mark_sent(self, msg_id: str) -> None:
        now = self.clock.timestamp()
        pipe = self.r.pipeline(transaction=True)
        pipe.zrem(self._ob("due"), msg_id)
        pipe.hset(self._ob("msg", msg_id), mapping={"status": "sent", "sent_at": now})
        pipe.zadd(self._ob("sent"), {msg_id: now})
        pipe.zremrangebyrank(self._ob("sent"), 0, -SENT_HISTORY - 1)
        pipe.execute()

    def mark_attempt_failed(self, msg_id: str, error: str, retry_in: float | None) -> None:
        """Record a failed attempt: retry after `retry_in` seconds, or give up when it is None."""
        now = self.clock.timestamp()
        key = self._ob("msg", msg_id)
        pipe = self.r.pipeline(transaction=True)
        pipe.hincrby(key, "attempts", 1)
        pipe.hset(key, "last_error", error[:300])
        if retry_in is None:
            pipe.hset(key, "status", "failed")
            pipe.zrem(self._ob("due"), msg_id)
            pipe.zadd(self._ob("failed"), {msg_id: now})
        else:
            pipe.hset(key, "status", "retrying")
            pipe.zadd(self._ob("due"), {msg_id: now + retry_in})
        pipe.execute()

    def outbox_for_user(self, openid: str) -> list[OutboxItem]:
        return self.outbox_items(self.r.lrange(self._ob("user", openid), 0, -1))

    def outbox_counts(self) -> dict[str, int]:
        pipe = self.r.pipeline(transaction=False)
        pipe.zcard(self._ob("due"))
        pipe.zcard(self._ob("failed"))
        pipe.zcard(self._ob("sent"))
        queued, failed, sent = pipe.execute()
        return {"queued": queued, "failed": failed, "sent": sent}

    def outbox_list(self, which: str = "due", limit: int = 50) -> list[OutboxItem]:
        if which not in ("due", "failed", "sent"):
            raise ValueError(which)
        return self.outbox_items(self.r.zrevrange(self._ob(which), 0, limit - 1))

    # -- bookings, staff, scheduled jobs ----------------------------------------------------
    @property
    def bookings(self) -> "BookingStore":
        return BookingStore(self)

    @property
    def records(self) -> "RecordStore":
        return RecordStore(self)

    @cached_property
    def access(self) -> "AccessStore":
        """Console sessions and try limits (bot/access_store.py)."""
        from bot.access_store import AccessStore as Access

        return Access(self)

    def set_away(self, name: str, until: float | None) -> None:
        if until is None:
            self.r.hdel(self.key("staff", "away"), name)
        else:
            self.r.hset(self.key("staff", "away"), name, until)

    def away_until(self, name: str) -> float:
        return float(self.r.hget(self.key("staff", "away"), name) or 0)

    # Scheduled jobs run effectively exactly once: a worker leases the jobs due now (they move from
    # `due` to `inflight` with a deadline), carries each out, and acknowledges it (`finish_job`) only
    # once its effects are stored. A worker killed in between leaves the job in flight; when the lease
    # runs out another worker takes it again. Every effect of a job is idempotent (a one-time record
    # change, outbox messages with dedup keys), so running it a second time changes nothing.
    @staticmethod
    def _job(job: dict[str, Any]) -> str:
        return json.dumps(job, ensure_ascii=False, sort_keys=True)

    def schedule(self, job: dict[str, Any], at: float) -> None:
        """Run `job` at `at` (once: the member is the job itself, so scheduling it twice is one job)."""
        self.r.zadd(self.key("sched", "due"), {self._job(job): at})

    def unschedule(self, job: dict[str, Any]) -> None:
        member = self._job(job)
        pipe = self.r.pipeline(transaction=True)
        pipe.zrem(self.key("sched", "due"), member)
        self._end_lease(pipe, member)
        pipe.execute()

    def take_due_jobs(self, limit: int = 50, lease: float = JOB_LEASE) -> list[tuple[dict[str, Any], int]]:
        """Lease the jobs due now (and those a dead worker left in flight) to this caller for `lease`
        seconds: [(job, how many times it has been taken)]. Acknowledge each with `finish_job`."""
        now = self.clock.timestamp()
        rows = self._take_jobs(keys=[self.key("sched", "due"), self.key("sched", "inflight"),
                                     self.key("sched", "attempts")], args=[now, now + lease, limit])
        return [(json.loads(rows[i]), int(rows[i + 1])) for i in range(0, len(rows), 2)]

    def finish_job(self, job: dict[str, Any]) -> None:
        """Acknowledge a job whose effects are stored: it is not taken again."""
        pipe = self.r.pipeline(transaction=True)
        self._end_lease(pipe, self._job(job))
        pipe.execute()

    def give_up_job(self, job: dict[str, Any]) -> None:
        """Set aside a job that failed every attempt (kept in `{sched}:failed` for staff to look at)."""
        member = self._job(job)
        pipe = self.r.pipeline(transaction=True)
        self._end_lease(pipe, member)
        pipe.zadd(self.key("sched", "failed"), {member: self.clock.timestamp()})
        pipe.execute()

    def _end_lease(self, pipe, member: str) -> None:
        """Off the in-flight set, with its count of takes (unscheduled, finished or given up)."""
        pipe.zrem(self.key("sched", "inflight"), member)
        pipe.hdel(self.key("sched", "attempts"), member)

    def jobs(self, which: str = "due") -> list[tuple[dict[str, Any], float]]:
        """Jobs scheduled (`due`), being run (`inflight`, by lease deadline) or given up (`failed`)."""
        if which not in ("due", "inflight", "failed"):
            raise ValueError(which)
        return [(json.loads(m), at) for m, at in self.r.zrange(self.key("sched", which), 0, -1, withscores=True)]

    def add_staff(self, name: str, openid: str, role: str = "window", backup: str = "") -> None:
        old = self.staff(name)
        pipe = self.r.pipeline(transaction=True)
        if old and old["openid"] != openid:
            pipe.hdel(self.key("staff", "by-openid"), old["openid"])
        member = {"name": name, "openid": openid, "role": role, "backup": backup}
        if old and old.get("password"):
            member["password"] = old["password"]
        pipe.hset(self.key("staff", "roster"), name, json.dumps(member, ensure_ascii=False))
        pipe.hset(self.key("staff", "by-openid"), openid, name)
        pipe.execute()

    def remove_staff(self, name: str) -> bool:
        old = self.staff(name)
        if not old:
            return False
        pipe = self.r.pipeline(transaction=True)
        pipe.hdel(self.key("staff", "roster"), name)
        pipe.hdel(self.key("staff", "by-openid"), old["openid"])
        pipe.execute()
        return True

    def staff(self, name: str) -> dict[str, str] | None:
        raw = self.r.hget(self.key("staff", "roster"), name)
        return json.loads(raw) if raw else None

    def staff_list(self) -> list[dict[str, str]]:
        return [json.loads(v) for _, v in sorted(self.r.hgetall(self.key("staff", "roster")).items())]

    def set_password(self, name: str, password: str) -> None:
        from werkzeug.security import generate_password_hash

        member = self.staff(name)
        if member is None:
            raise KeyError(name)
        member["password"] = generate_password_hash(password)
        self.r.hset(self.key("staff", "roster"), name, json.dumps(member, ensure_ascii=False))

    def check_password(self, name: str, password: str) -> bool:
        from werkzeug.security import check_password_hash

        from bot.access_store import dummy_password_hash

        member = self.staff(name)
        stored = (member or {}).get("password")
        # an unknown name (or one without a password) costs the same hash work: timing reveals no names
        matches = check_password_hash(stored or dummy_password_hash(), password)
        return bool(stored) and matches

    def count_failed_login(self, who: str, window: int = 900) -> int:
        key = self.key("console", "failed", who)
        pipe = self.r.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, window)
        return pipe.execute()[0]

    def clear_failed_logins(self, who: str) -> None:
        self.r.delete(self.key("console", "failed", who))

    def failed_logins(self, who: str) -> int:
        return int(self.r.get(self.key("console", "failed", who)) or 0)

    def staff_by_openid(self, openid: str) -> dict[str, str] | None:
        name = self.r.hget(self.key("staff", "by-openid"), openid)
        return self.staff(name) if name else None

    # -- WeChat access token (wechatpy session storage) --------------------------------------
    def token_storage(self) -> "TokenStorage":
        return TokenStorage(self)

    def token_lock(self, timeout: float = 15.0):
        return self.r.lock(self.key("wechat", "token-lock"), timeout=timeout, blocking_timeout=timeout)

    # -- knowledge-base feedback -------------------------------------------------------------
    def log_unanswered(self, question: str) -> None:
        text = mask_phones(question.strip())[:200]
        if text:
            self.r.zincrby(self.key("kb", "unanswered"), 1, text)

    def unanswered(self, limit: int = 100) -> list[tuple[str, int]]:
        rows = self.r.zrevrange(self.key("kb", "unanswered"), 0, limit - 1, withscores=True)
        return [(q, int(n)) for q, n in rows]

    def log_referral(self, question: str, unit: str, reason: str, kind: str = "referral") -> None:
        """The 否定报备 ledger: every question sent elsewhere or declined, with time, unit and reason."""
        now = self.clock.timestamp()
        entry = {"id": uuid.uuid4().hex[:12], "time": now, "kind": kind, "unit": unit, "reason": reason,
                 "question": mask_phones(question.strip())[:200]}
        self.r.zadd(self.key("kb", "referrals"), {json.dumps(entry, ensure_ascii=False): now})

    def referrals(self, since: float, until: float | None = None) -> list[dict[str, Any]]:
        rows = self.r.zrangebyscore(self.key("kb", "referrals"), since, "+inf" if until is None else until)
        return [json.loads(r) for r in rows]


BOOKING_KEEP = 400 * 24 * 3600  # a year of bookings stays for the center's statistics
IDEMPOTENCY_TTL = 24 * 3600


@dataclass(frozen=True)
class BookResult:
    outcome: str  # ok, duplicate, full, daily_limit
    code: str = ""
    booking: dict | None = None  # the stored booking (ok, duplicate)


def booking_code_parts(code: str) -> tuple[str, str] | None:
    """'J26112503' -> ('J', '20261125'); None when it is not a booking code."""
    m = re.fullmatch(r"([A-Z]{1,3})(\d{6})(\d{2,})", code.strip().upper())
    return (m[1], "20" + m[2]) if m else None


class BookingStore:
    """Bookings: the seats of each resource-day, taken and given back atomically."""

    def __init__(self, store: "Store"):
        self.s = store
        self.r = store.r

    def _day(self, resource: str, day: str, *parts: str) -> str:
        return self.s.key(f"bk:{resource}:{day}", *parts)

    def book(self, resource: str, code_letters: str, day: str, slot: str, openid: str, booking: dict,
             capacity: int, per_day: int, idempotency: str) -> BookResult:
        keys = [self._day(resource, day, "slot", slot), self._day(resource, day, "person", openid),
                self._day(resource, day, "bookings"), self._day(resource, day, "seq"),
                self._day(resource, day, "idem", idempotency)]
        outcome, code, *stored = self.s._book(keys=keys, args=[capacity, per_day, f"{code_letters}{day[2:]}",
                                                               json.dumps(booking, ensure_ascii=False), IDEMPOTENCY_TTL])
        if outcome == "ok":
            booking = {**booking, "code": code}
        elif outcome == "duplicate" and stored and stored[0]:
            booking = json.loads(stored[0])
        else:
            return BookResult(outcome, code)
        self._index(resource, day, openid, code, booking["starts"])
        return BookResult(outcome, code, booking)

    def booked(self, resource: str, day: str, idempotency: str) -> dict | None:
        """The booking a request with `idempotency` made, if any (with its indexes made sure of)."""
        code = self.r.get(self._day(resource, day, "idem", idempotency))
        raw = self.r.hget(self._day(resource, day, "bookings"), code) if code else None
        if not raw:
            return None
        booking = json.loads(raw)
        self._index(resource, day, booking["openid"], code, booking["starts"])
        return booking

    def _index(self, resource: str, day: str, openid: str, code: str, starts: float) -> None:
        """The indexes follow the seat. For a duplicate (WeChat's retry of a request that died after
        taking the seat) they are written again, which is harmless if the first request wrote them."""
        pipe = self.r.pipeline(transaction=False)
        pipe.zadd(self.s._user(openid, "bookings"), {f"{resource}|{code}": starts})
        pipe.expire(self.s._user(openid, "bookings"), BOOKING_KEEP)
        pipe.sadd(self.s.key("bookings", "day", day), f"{resource}|{code}")
        pipe.expire(self.s.key("bookings", "day", day), BOOKING_KEEP)
        pipe.expire(self._day(resource, day, "bookings"), BOOKING_KEEP)
        pipe.execute()

    def get(self, code: str, resources: dict[str, str]) -> dict | None:
        """A booking by its code; `resources` maps code letters to resource ids."""
        parts = booking_code_parts(code)
        if not parts or parts[0] not in resources:
            return None
        raw = self.r.hget(self._day(resources[parts[0]], parts[1], "bookings"), code.strip().upper())
        return json.loads(raw) if raw else None

    def transition(self, booking: dict, allowed: tuple[str, ...], to: str, free: bool,
                   **fields) -> tuple[bool, dict | str]:
        """Move a booking to `to` if it is in one of `allowed`; (True, booking) or (False, its state)."""
        res, day, code = booking["resource"], booking["day"], booking["code"]
        keys = [self._day(res, day, "slot", booking["slot"]), self._day(res, day, "person", booking["openid"]),
                self._day(res, day, "bookings")]
        outcome, data = self.s._transition(keys=keys, args=[code, ",".join(allowed), to, "1" if free else "0",
                                                             json.dumps(fields, ensure_ascii=False)])
        if outcome == "ok":
            return True, json.loads(data)
        return False, data

    def of_user(self, openid: str, since: float) -> list[dict]:
        """A person's bookings starting from `since`, soonest first, in any state."""
        codes = self.r.zrangebyscore(self.s._user(openid, "bookings"), since, "+inf")
        return self._load(codes)

    def _load(self, members: list[str]) -> list[dict]:
        """Bookings from index members written as 'resource|code'."""
        pipe = self.r.pipeline(transaction=False)
        for member in members:
            resource, _, code = member.partition("|")
            parts = booking_code_parts(code)
            if parts is not None:
                pipe.hget(self._day(resource, parts[1], "bookings"), code)
        return [json.loads(raw) for raw in pipe.execute() if raw]

    def seats_taken(self, resource: str, day: str, slots: list[str]) -> dict[str, int]:
        pipe = self.r.pipeline(transaction=False)
        for slot in slots:
            pipe.scard(self._day(resource, day, "slot", slot))
        return dict(zip(slots, pipe.execute()))

    def of_day(self, day: str) -> list[dict]:
        return self._load(sorted(self.r.smembers(self.s.key("bookings", "day", day))))

    def record_no_show(self, openid: str, code: str, at: float) -> None:
        self.r.zadd(self.s._user(openid, "noshows"), {code: at})
        self.r.expire(self.s._user(openid, "noshows"), BOOKING_KEEP)

    def no_shows(self, openid: str, since: float) -> int:
        return self.r.zcount(self.s._user(openid, "noshows"), since, "+inf")


RECORD_IDEMPOTENCY_TTL = 7 * 24 * 3600


class RecordStore:
    """First-responder records and delegation cases, each change one transaction with its history."""

    def __init__(self, store: "Store"):
        self.s = store
        self.r = store.r

    def _k(self, *parts: str) -> str:
        return self.s.key("rec", *parts)

    def next_number(self, prefix: str, day: str) -> str:
        """TS20261122-0007: unique across workers (one counter per day for every type)."""
        seq = self.r.incr(self._k("seq", day))
        self.r.expire(self._k("seq", day), 3 * 24 * 3600)
        return f"{prefix}{day}-{seq:04d}"

    def create(self, no: str, fields: dict[str, Any], event: dict[str, Any], due: float,
               idempotency: str) -> tuple[str, bool]:
        """Store a new record unless `idempotency` made one already: (number, created now)."""
        staff = fields.get("responder") or ""
        openid = fields.get("openid") or ""
        keys = [self._k("r", no), self._k("h", no), self._k("open"),
                self._k("staff", staff) if staff else self._k("r", no),
                self._k("user", openid) if openid else self._k("r", no), self._k("idem", idempotency),
                self._k("all")]
        flat = {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in fields.items()}
        got = self.s._create_record(keys=keys, args=[no, json.dumps(flat, ensure_ascii=False),
                                                     json.dumps(event, ensure_ascii=False), due,
                                                     RECORD_IDEMPOTENCY_TTL, fields.get("created", 0)])
        return got, got == no

    def get(self, no: str) -> dict[str, Any] | None:
        return self._decode(self.r.hgetall(self._k("r", no.strip().upper())))

    @staticmethod
    def _decode(raw: dict[str, str]) -> dict[str, Any] | None:
        if not raw:
            return None
        out: dict[str, Any] = {}
        for k, v in raw.items():
            try:
                out[k] = json.loads(v) if v[:1] in "{[" or k in ("due", "created", "taken") else v
            except ValueError:
                out[k] = v
        return out

    def history(self, no: str) -> list[dict[str, Any]]:
        return [json.loads(e) for e in self.r.lrange(self._k("h", no), 0, -1)]

    def update(self, no: str, fields: dict[str, Any], event: dict[str, Any], *, staff: str = "",
               new_staff: str | None = None, close: bool = False, due: float | None = None) -> None:
        """Change a record: new fields, one history entry, and the indexes that follow, in one transaction.

        `staff` is who holds it now; `new_staff` who takes it over; `close` ends it (off every open index).
        """
        pipe = self.r.pipeline(transaction=True)
        self._update(pipe, no, fields, event, staff=staff, new_staff=new_staff, close=close, due=due)
        pipe.execute()

    def _update(self, pipe, no: str, fields: dict[str, Any], event: dict[str, Any], *, staff: str = "",
                new_staff: str | None = None, close: bool = False, due: float | None = None) -> None:
        if fields:
            pipe.hset(self._k("r", no), mapping={k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                                                 for k, v in fields.items()})
        pipe.rpush(self._k("h", no), json.dumps(event, ensure_ascii=False))
        if new_staff is not None and new_staff != staff:
            if staff:
                pipe.srem(self._k("staff", staff), no)
            if new_staff and not close:
                pipe.sadd(self._k("staff", new_staff), no)
        if close:
            pipe.zrem(self._k("open"), no)
            for name in {staff, new_staff} - {None, ""}:
                pipe.srem(self._k("staff", name), no)
        elif due is not None:
            pipe.zadd(self._k("open"), {no: due})

    def update_once(self, no: str, once: str, fields: dict[str, Any], event: dict[str, Any], *,
                    when: Callable[[dict[str, Any]], bool] | None = None, **index: Any) -> str:
        """`update` at most once per `once` (a job's identity): "applied" now, "again" when it was applied
        before (a re-run of a job whose worker died), or "skipped" when `when(record)` says it does not
        apply. The check and the change are one optimistic transaction on the record."""
        record, marks = self._k("r", no), self._k("done", no)

        def apply(pipe) -> str:
            if pipe.sismember(marks, once):
                return "again"
            current = self._decode(pipe.hgetall(record))
            if current is None or (when is not None and not when(current)):
                return "skipped"
            pipe.multi()
            self._update(pipe, no, fields, event, **index)
            pipe.sadd(marks, once)
            return "applied"

        return self.r.transaction(apply, record, marks, value_from_callable=True)

    def mark(self, no: str, what: str) -> None:
        """Note that a step of a record's life (e.g. its registration's hand-offs) is complete."""
        self.r.sadd(self._k("done", no), what)

    def marked(self, no: str, what: str) -> bool:
        return bool(self.r.sismember(self._k("done", no), what))

    def of_staff(self, name: str) -> list[dict[str, Any]]:
        return [r for r in (self.get(no) for no in sorted(self.r.smembers(self._k("staff", name)))) if r]

    def of_user(self, openid: str) -> list[dict[str, Any]]:
        return [r for r in (self.get(no) for no in self.r.lrange(self._k("user", openid), 0, -1)) if r]

    def open_numbers(self) -> list[str]:
        return self.r.zrange(self._k("open"), 0, -1)

    def numbers_between(self, since: float, until: float, limit: int = 2000) -> list[str]:
        """Record numbers created in [since, until), newest first."""
        return self.r.zrevrangebyscore(self._k("all"), f"({until}", since, start=0, num=limit)

    def unlink_user(self, openid: str) -> None:
        """On unsubscribe: keep the center's records, forget whose WeChat they came from."""
        for no in self.r.lrange(self._k("user", openid), 0, -1):
            self.r.hset(self._k("r", no), "openid", "")
        self.r.delete(self._k("user", openid))

    def ask_rating(self, openid: str, no: str) -> None:
        self.r.set(self.s._user(openid, "rating"), no, ex=7 * 24 * 3600)

    def rating_asked(self, openid: str) -> str | None:
        return self.r.get(self.s._user(openid, "rating"))

    def rating_done(self, openid: str) -> None:
        self.r.delete(self.s._user(openid, "rating"))


class Unreachable:
    """Stands in for the store while Redis is known to be out of reach: every operation fails at once,
    as Redis would after its timeout, so a reply given from memory is not held up by a second wait."""

    def __getattr__(self, name: str) -> "Unreachable":
        return self  # store.bookings.of_user(...) fails when called, where callers expect Redis to fail

    def __call__(self, *args, **kwargs):
        raise redis.ConnectionError("the store is out of reach")

    __bool__ = __iter__ = __len__ = __call__


class TokenStorage:
    """wechatpy's SessionStorage interface over the store, so every process shares one token."""

    def __init__(self, store: Store):
        self.store = store

    def _key(self, key: str) -> str:
        return self.store.key("wechat", "token", key)

    def get(self, key: str, default: Any = None) -> Any:
        raw = self.store.r.get(self._key(key))
        return json.loads(raw) if raw is not None else default

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        if value is None:
            return
        # refresh five minutes early: WeChat's old token stays valid about five minutes after a new one
        ex = max(int(ttl) - 300, 60) if ttl else None
        self.store.r.set(self._key(key), json.dumps(value), ex=ex)

    def delete(self, key: str) -> None:
        self.store.r.delete(self._key(key))

    def __getitem__(self, key: str) -> Any:
        return self.get(key)

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def __delitem__(self, key: str) -> None:
        self.delete(key)
