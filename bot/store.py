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
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Iterator

import redis

from bot.clock import Clock

PREFIX = "centerbot"
SESSION_TTL = 30 * 60
SEEN_TTL = 10 * 60  # WeChat retries within ~15 s; keep the answer well beyond that
PROFILE_TTL = 180 * 24 * 3600
OUTBOX_KEEP = 14 * 24 * 3600
OUTBOX_LEASE = 120  # seconds a worker owns a claimed message before another may retry it
OUTBOX_MAX_ATTEMPTS = 6
SENT_HISTORY = 2000

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_phones(text: str) -> str:
    """Hide the middle four digits of mainland mobile numbers: 138****8000."""
    return _PHONE.sub(lambda m: f"{m[1]}****{m[3]}", text)


def connect(url: str) -> redis.Redis:
    """A client for `url` (redis://, rediss://, unix://)."""
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=2.0,
                                socket_connect_timeout=2.0, health_check_interval=30)


@dataclass(frozen=True)
class Seen:
    """What the store knows of a delivered message: new to us, being handled, or answered."""

    state: str  # "new", "pending", "done", "deferred"
    reply: str | None = None


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

    # -- key names -------------------------------------------------------------------------
    def key(self, tag: str, *parts: str) -> str:
        return ":".join((self.prefix, "{" + tag + "}", *parts))

    def _user(self, openid: str, *parts: str) -> str:
        return self.key(f"u:{openid}", *parts)

    def ping(self) -> bool:
        return bool(self.r.ping())

    # -- sessions and profiles -----------------------------------------------------------------
    def load_session(self, openid: str) -> dict[str, Any]:
        raw = self.r.get(self._user(openid, "session"))
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def save_session(self, openid: str, session: dict[str, Any]) -> None:
        """Store the session and note the user's interaction, in one round trip."""
        now = self.clock.timestamp()
        pipe = self.r.pipeline(transaction=True)
        if session:
            pipe.set(self._user(openid, "session"), json.dumps(session, ensure_ascii=False), ex=SESSION_TTL)
        else:
            pipe.delete(self._user(openid, "session"))
        profile = self._user(openid, "profile")
        pipe.hsetnx(profile, "first_seen", now)
        pipe.hset(profile, "last_seen", now)
        pipe.expire(profile, PROFILE_TTL)
        pipe.execute()

    def profile(self, openid: str) -> dict[str, str]:
        return self.r.hgetall(self._user(openid, "profile"))

    def forget_user(self, openid: str) -> None:
        """On unsubscribe: delete the user's session and profile (records are kept, unlinked)."""
        self.r.delete(self._user(openid, "session"), self._user(openid, "profile"))

    # -- exactly-once delivery ------------------------------------------------------------------
    def claim_message(self, openid: str, msg_key: str) -> Seen:
        """Mark a message as being handled; if it was seen before, say how it went."""
        key = self._user(openid, "seen", msg_key)
        if self.r.set(key, json.dumps({"state": "pending"}), nx=True, ex=SEEN_TTL):
            return Seen("new")
        raw = self.r.get(key)
        data = json.loads(raw) if raw else {"state": "pending"}
        return Seen(data.get("state", "pending"), data.get("reply"))

    def finish_message(self, openid: str, msg_key: str, state: str, reply: str | None = None) -> None:
        key = self._user(openid, "seen", msg_key)
        self.r.set(key, json.dumps({"state": state, "reply": reply}, ensure_ascii=False), ex=SEEN_TTL)

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
        item = {"id": msg_id, "openid": openid, "kind": kind, "status": "queued", "attempts": 0,
                "created": now, "payload": json.dumps(payload, ensure_ascii=False)}
        if dedup and self.r.exists(key):
            return msg_id
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, mapping=item)
        pipe.expire(key, OUTBOX_KEEP)
        pipe.zadd(self._ob("due"), {msg_id: now})
        pipe.rpush(self._ob("user", openid), msg_id)
        pipe.ltrim(self._ob("user", openid), -50, -1)
        pipe.expire(self._ob("user", openid), OUTBOX_KEEP)
        pipe.execute()
        return msg_id

    def claim_due(self, limit: int = 20) -> list[OutboxItem]:
        """Lease the messages due now to this worker; a crashed worker's lease runs out and they return."""
        now = self.clock.timestamp()
        ids = self._claim_due(keys=[self._ob("due")], args=[now, now + OUTBOX_LEASE, limit])
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


def iter_keys(client: redis.Redis, pattern: str) -> Iterator[str]:
    """All keys matching `pattern` (for maintenance commands; never on a request path)."""
    yield from client.scan_iter(match=pattern, count=500)
