"""Storage operations of delivery beyond the outbox itself: the customer-service messages each user's
last message still allows, messages parked until the user writes again, and the pace of forced
access-token refreshes.

Keys (prefix as the store's; a user's keys share the {u:<openid>} hash tag, so the script runs on Cluster):
  {u:<openid>}:cs        hash: since (the user's last_seen the count belongs to), used, total, fallbacks
  {wechat}:token-forced  set for 30 s after a forced stable_token refresh (WeChat allows one per 30 s)
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.store.connection import lua

CS_LIMIT = 5  # customer-service messages WeChat allows after a user's message (since 2023) ...
CS_WINDOW = 48 * 3600  # ... within this many seconds of it
FORCED_REFRESH_GAP = 30  # seconds between forced stable_token refreshes (and 20 a day)


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
        # (cs_take.lua, cs_give_back.lua, cs_spend.lua beside this module)
        self._take = self.r.register_script(lua("cs_take"))
        self._give_back = self.r.register_script(lua("cs_give_back"))
        self._spend = self.r.register_script(lua("cs_spend"))

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
