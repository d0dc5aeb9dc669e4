"""好差评 of what is not a record (a booking of a room or equipment): one entry per rating, kept by time."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.store import Store


class RatingStore:
    """Ratings of bookings; records keep their own rating on the record."""

    def __init__(self, store: "Store"):
        self.s = store
        self.r = store.r

    def _key(self) -> str:
        return self.s.key("rate", "bookings")

    def add(self, ref: str, rating: int, label: str, reason: str = "") -> None:
        """One rating per booking: a later one (the reason of a bad rating) replaces the first."""
        now = self.s.clock.timestamp()
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.s.key("rate", "by-ref"), ref, json.dumps(
            {"ref": ref, "rating": rating, "label": label, "reason": reason[:300], "at": now}, ensure_ascii=False))
        pipe.zadd(self._key(), {ref: now})
        pipe.execute()

    def get(self, ref: str) -> dict[str, Any] | None:
        raw = self.r.hget(self.s.key("rate", "by-ref"), ref)
        return json.loads(raw) if raw else None

    def between(self, since: float, until: float) -> list[dict[str, Any]]:
        refs = self.r.zrangebyscore(self._key(), since, until)
        rows = self.r.hmget(self.s.key("rate", "by-ref"), refs) if refs else []
        return [json.loads(r) for r in rows if r]
