"""Storage for access control: console sessions kept on the server, and the counters that limit tries
(绑定 codes, new records per citizen per day) and make a warning go out once.

Key layout (prefix `centerbot:`):
  {console}:session:<sha256 of the id>   JSON of one console session (the cookie holds only the id;
                                           Redis holds its hash, so a copy of the data reveals no id)
  {limit}:<what>:<who>                    a counter of tries in a window (INCR, expiring)
  {limit}:once:<what>                     set once (SET NX) so a warning is given once per window
  {u:<openid>}:records-day:<yyyymmdd>     the idempotency keys of the records a citizen made that day
  {staff}:bindcode:<id>                   a one-time 绑定 code: hash of name, sha256 of its secret part,
                                           wrong tries (the code is voided at BIND_CODE_TRIES)
"""
from __future__ import annotations

import hashlib
import json
import secrets
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.store import Store

BIND_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or typed from paper
BIND_CODE_ID = 4  # the code's first characters find it; the other 8 (40 bits) are its secret
BIND_CODE_LENGTH = 12  # 32**12 = 2**60 codes to guess blind
BIND_CODE_TRIES = 3  # wrong secrets for one code before it is voided
BIND_CODE_TTL = 24 * 3600


def new_bind_code() -> str:
    """A one-time 绑定 code of 12 characters (60 bits): guessing one is hopeless within the try limits."""
    return "".join(secrets.choice(BIND_CODE_ALPHABET) for _ in range(BIND_CODE_LENGTH))


@lru_cache(maxsize=1)
def dummy_password_hash() -> str:
    """A hash made like real ones (same method and cost) of a password nobody knows, checked for names
    that have none, so that a sign-in takes as long for an unknown name as for a known one."""
    from werkzeug.security import generate_password_hash

    return generate_password_hash(secrets.token_urlsafe(24))


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


class AccessStore:
    """Console sessions, try counters and once-only warnings (named operations over the store's Redis)."""

    # Lua scripts (bot/store/<name>.lua), registered on the Store when it is built
    SCRIPTS = {"_take_daily_record": "take_daily_record", "_redeem_bind_code": "redeem_bind_code"}

    def __init__(self, store: "Store"):
        self.s = store
        self.r = store.r

    # -- console sessions ------------------------------------------------------------------------
    def _session_key(self, sid: str) -> str:
        return self.s.key("console", "session", hashlib.sha256(sid.encode()).hexdigest())

    def new_session(self, data: dict[str, Any], ttl: int) -> str:
        """Store a new session for `ttl` seconds; returns its id (for the cookie)."""
        sid = new_session_id()
        self.r.set(self._session_key(sid), json.dumps(data, ensure_ascii=False), ex=ttl)
        return sid

    def session(self, sid: str) -> dict[str, Any] | None:
        raw = self.r.get(self._session_key(sid))
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def save_session(self, sid: str, data: dict[str, Any]) -> bool:
        """Update a live session, keeping its expiry; False when it ended meanwhile (never revived)."""
        return bool(self.r.set(self._session_key(sid), json.dumps(data, ensure_ascii=False), xx=True,
                               keepttl=True))

    def end_session(self, sid: str) -> None:
        self.r.delete(self._session_key(sid))

    # -- try counters and once-only warnings ---------------------------------------------------------
    def hit(self, what: str, who: str, window: int) -> int:
        """Count one try of `what` by `who`; the count lives `window` seconds from the first try."""
        key = self.s.key("limit", what, who)
        pipe = self.r.pipeline(transaction=True)
        pipe.set(key, 0, ex=window, nx=True)  # the window starts at the first try (EXPIRE NX is Redis 7)
        pipe.incr(key)
        return int(pipe.execute()[1])

    def hits(self, what: str, who: str) -> int:
        return int(self.r.get(self.s.key("limit", what, who)) or 0)

    def clear(self, what: str, who: str) -> None:
        self.r.delete(self.s.key("limit", what, who))

    def first_time(self, what: str, ttl: int) -> bool:
        """True the first time `what` is asked within `ttl` seconds (a warning sent once)."""
        return bool(self.r.set(self.s.key("limit", "once", what), "1", nx=True, ex=ttl))

    # -- a citizen's new records per day ------------------------------------------------------------
    def _day_key(self, openid: str, day: str) -> str:
        return self.s.key(f"u:{openid}", "records-day", day)

    def take_daily_record(self, openid: str, day: str, idempotency: str, limit: int) -> tuple[bool, int]:
        """(allowed, records that day) for one more record of `openid` on `day` (yyyymmdd)."""
        allowed, count = self.s._take_daily_record(keys=[self._day_key(openid, day)],
                                          args=[idempotency, limit, 2 * 24 * 3600])
        return bool(allowed), int(count)

    def daily_records(self, openid: str, day: str) -> int:
        return int(self.r.scard(self._day_key(openid, day)))

    # -- 绑定 codes ----------------------------------------------------------------------------------
    def _code_key(self, code_id: str) -> str:
        return self.s.key("staff", "bindcode", code_id)

    def issue_bind_code(self, name: str, ttl: int = BIND_CODE_TTL) -> str:
        """A new one-time code with which staff member `name` binds their own WeChat ("绑定 <code>")."""
        code = new_bind_code()
        key = self._code_key(code[:BIND_CODE_ID])
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping={"name": name, "secret": _digest(code[BIND_CODE_ID:]), "tries": 0})
        pipe.expire(key, ttl)
        pipe.execute()
        return code

    def redeem_bind_code(self, code: str) -> tuple[str, str]:
        """(outcome, name) for a code sent with 绑定: ok, wrong (a known code's wrong secret), voided
        (that wrong try was its last) or unknown (no such code)."""
        code = code.strip().upper()
        if len(code) != BIND_CODE_LENGTH:
            return "unknown", ""
        outcome, name = self.s._redeem_bind_code(keys=[self._code_key(code[:BIND_CODE_ID])],
                                     args=[_digest(code[BIND_CODE_ID:]), BIND_CODE_TRIES])
        return outcome, name


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
