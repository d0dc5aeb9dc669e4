"""The knowledge base's ledgers: questions it could not answer, and referrals and refusals (否定报备)."""
from __future__ import annotations

import json
import uuid
from typing import Any

from bot.store.connection import Connection
from handlers.privacy import mask_phones


class Ledgers(Connection):
    """Feedback on the knowledge base, with phone numbers masked."""

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
