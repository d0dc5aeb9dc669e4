"""Storage operations of delivery beyond the outbox itself: the customer-service messages each user's
last message still allows, messages parked until the user writes again, and the pace of forced
access-token refreshes.

Keys (prefix as the store's; a user's keys share the {u:<openid>} hash tag, so the script runs on Cluster):
  {u:<openid>}:cs        hash: since (the user's last_seen the count belongs to), used, total, fallbacks
  {wechat}:token-forced  set for 30 s after a forced stable_token refresh (WeChat allows one per 30 s)
"""
from __future__ import annotations

from dataclasses import dataclass

CS_LIMIT = 5  # customer-service messages WeChat allows after a user's message (since 2023) ...
CS_WINDOW = 48 * 3600  # ... within this many seconds of it
FORCED_REFRESH_GAP = 30  # seconds between forced stable_token refreshes (and 20 a day)

# Take one customer-service message from the user's allowance.
# KEYS: the user's profile, the user's cs hash; ARGV: now, limit, window
# Returns {verdict, used}: 'ok' (taken), 'spent' (none left), 'closed' (48 hours passed), 'unknown'
# (we never saw the user write: WeChat decides; counted all the same).
_TAKE = """
local last = redis.call('HGET', KEYS[1], 'last_seen')
local verdict = 'ok'
if not last then
  last = '-'
  verdict = 'unknown'
elseif tonumber(ARGV[1]) - tonumber(last) > tonumber(ARGV[3]) then
  return {'closed', 0}
end
if redis.call('HGET', KEYS[2], 'since') ~= last then
  redis.call('HSET', KEYS[2], 'since', last, 'used', 0)
end
local used = tonumber(redis.call('HGET', KEYS[2], 'used') or '0')
if used >= tonumber(ARGV[2]) then return {'spent', used} end
redis.call('HINCRBY', KEYS[2], 'used', 1)
redis.call('HINCRBY', KEYS[2], 'total', 1)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]) * 4)
return {verdict, used + 1}
"""

# Give back a message taken for a send that did not happen, if the count is still the same one.
# KEYS: profile, cs hash
_GIVE_BACK = """
local last = redis.call('HGET', KEYS[1], 'last_seen') or '-'
if redis.call('HGET', KEYS[2], 'since') == last and tonumber(redis.call('HGET', KEYS[2], 'used') or '0') > 0 then
  redis.call('HINCRBY', KEYS[2], 'used', -1)
  redis.call('HINCRBY', KEYS[2], 'total', -1)
end
return 1
"""

# WeChat answered 45047: the allowance is spent, whatever we counted. KEYS: profile, cs hash; ARGV: limit
_SPEND = """
local last = redis.call('HGET', KEYS[1], 'last_seen') or '-'
redis.call('HSET', KEYS[2], 'since', last, 'used', ARGV[1])
return 1
"""


@dataclass(frozen=True)
class Allowance:
    verdict: str  # ok | unknown | spent | closed
    used: int

    @property
    def may_send(self) -> bool:
        return self.verdict in ("ok", "unknown")


class DeliveryStore:
    """Named operations the outbox sender needs besides the outbox: see the module docstring."""

    def __init__(self, store, limit: int = CS_LIMIT):
        self.store = store
        self.r = store.r
        self.limit = limit
        self._take = self.r.register_script(_TAKE)
        self._give_back = self.r.register_script(_GIVE_BACK)
        self._spend = self.r.register_script(_SPEND)

    def _keys(self, openid: str) -> list[str]:
        return [self.store._user(openid, "profile"), self.store._user(openid, "cs")]

    # -- the customer-service allowance --------------------------------------------------------
    def take(self, openid: str) -> Allowance:
        """Count one customer-service message to `openid` against what their last message allows; the
        count starts again whenever they write (their profile's last_seen changes)."""
        verdict, used = self._take(keys=self._keys(openid),
                                   args=[self.store.clock.timestamp(), self.limit, CS_WINDOW])
        return Allowance(verdict.decode() if isinstance(verdict, bytes) else verdict, int(used))

    def give_back(self, openid: str) -> None:
        """The message counted by `take` was not delivered."""
        self._give_back(keys=self._keys(openid))

    def spend(self, openid: str) -> None:
        """WeChat says the allowance is used up (45047): no more texts until the user writes."""
        self._spend(keys=self._keys(openid), args=[self.limit])

    def note_fallback(self, openid: str) -> None:
        self.r.hincrby(self.store._user(openid, "cs"), "fallbacks", 1)

    def counts(self, openid: str) -> dict[str, int]:
        """What was sent to a user: customer-service texts since their last message (`used`, of
        `limit`), texts in all (`total`), template or subscribe messages sent instead (`fallbacks`)."""
        raw = self.r.hgetall(self.store._user(openid, "cs"))
        last = self.store.profile(openid).get("last_seen", "-")
        used = int(raw.get("used", 0)) if raw.get("since") == last else 0
        return {"used": used, "limit": self.limit, "total": int(raw.get("total", 0)),
                "fallbacks": int(raw.get("fallbacks", 0))}

    # -- outbox messages waiting for the user --------------------------------------------------
    def park(self, msg_id: str, until: float, note: str) -> None:
        """Keep a message due again at `until` without counting a failed attempt: it waits for the user
        to write (which opens a new allowance), not for WeChat to recover."""
        key = self.store._ob("msg", msg_id)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, mapping={"status": "retrying", "last_error": note[:300]})
        pipe.zadd(self.store._ob("due"), {msg_id: until})
        pipe.execute()

    def queue_order(self, openids: list[str]) -> dict[str, int]:
        """Each recent outbox message of these users -> its place in the order it was queued (messages
        queued in the same instant share a due time, so the due set alone cannot tell)."""
        pipe = self.r.pipeline(transaction=False)
        for openid in openids:
            pipe.lrange(self.store._ob("user", openid), 0, -1)
        return {msg_id: i for ids in pipe.execute() for i, msg_id in enumerate(ids)}

    def note_sent_as(self, msg_id: str, via: str) -> None:
        """How a sent message went out: as a customer-service text merged with others, or as a template
        or subscribe message instead."""
        self.r.hset(self.store._ob("msg", msg_id), "via", via)

    # -- access token ---------------------------------------------------------------------------
    def may_force_token_refresh(self) -> bool:
        """True at most once per FORCED_REFRESH_GAP seconds across every process."""
        return bool(self.r.set(self.store.key("wechat", "token-forced"), "1", nx=True, ex=FORCED_REFRESH_GAP))
