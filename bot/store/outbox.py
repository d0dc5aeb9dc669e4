"""The outbox: messages the worker sends through the WeChat API, queued once, leased, retried, kept a while.
Lua: enqueue.lua, claim_due.lua."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from bot.store.connection import Connection

OUTBOX_KEEP = 14 * 24 * 3600
OUTBOX_LEASE = 120  # seconds a worker owns a claimed message before another may retry it
OUTBOX_MAX_ATTEMPTS = 6
SENT_HISTORY = 2000


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


class Outbox(Connection):
    """Messages the worker sends: queued, leased, marked sent or failed."""

    SCRIPTS = {"_enqueue": "enqueue", "_claim_due": "claim_due"}

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
