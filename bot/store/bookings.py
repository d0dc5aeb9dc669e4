"""Bookings of the center's rooms, equipment and windows: the seats of each resource-day, taken and given
back atomically, with each person's and each day's indexes. Lua: book.lua, transition.lua."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.store import Store

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

    SCRIPTS = {"_book": "book", "_transition": "transition"}  # registered on the Store, run as self.s._book

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
