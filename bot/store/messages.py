"""Messages and sessions: exactly-once claims of delivered messages (the reply kept for WeChat's
retries), conversation sessions, and profiles (first and last seen, for WeChat's 48-hour window).
Lua: claim_message.lua, finish_message.lua, remember_request.lua (the shared memory of signed URLs, see
replay.py)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.store.connection import Connection
from bot.store.replay import REPLAY, SignedRequest

SESSION_TTL = 30 * 60
SEEN_TTL = 10 * 60  # WeChat retries within ~15 s; keep the answer well beyond that
# A live handler answers or defers within the webhook's 4-second budget; a message still pending this
# many seconds after its claim was being handled by a process that died, and WeChat's retry (5 s after
# the first delivery) takes it over, with time left to answer before WeChat gives up on it too.
CLAIM_LEASE = 6
PROFILE_TTL = 180 * 24 * 3600


def _session(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class Seen:
    """What the store knows of a delivered message: new to us, being handled, or answered.

    A new message comes with the user's session, read in the same round trip."""

    state: str  # "new", "pending", "done", "deferred"; "replay": a signed URL seen with another body
    reply: str | None = None
    session: dict[str, Any] | None = None


class Messages(Connection):
    """Sessions, profiles and the claims of delivered messages."""

    SCRIPTS = {"_claim_message": "claim_message", "_finish_message": "finish_message",
               "_remember_request": "remember_request"}

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
                      self._user(openid, "bookings"), self._user(openid, "noshows"), self._user(openid, "consents"))
        self.records.unlink_user(openid)

    # -- exactly-once delivery ------------------------------------------------------------------
    def claim_message(self, openid: str, msg_key: str, request: SignedRequest | None = None) -> Seen:
        """Mark a message as being handled, in one round trip with its session; if it was seen
        before, say how it went. Given a plaintext request's signed URL, remember it in the same round
        trip: a URL already seen with another body is a replay (state "replay"), and claims nothing.

        A claim is held for CLAIM_LEASE seconds: a process killed while handling the message leaves it
        pending, and WeChat's retry after that takes it over and handles it again (what the dead
        process stored is idempotent: bookings and records carry the message's idempotency key)."""
        now = self.clock.timestamp()
        claim = (self._claim_message, [self._user(openid, "seen", msg_key), self._user(openid, "session")],
                 [json.dumps({"state": "pending", "until": now + CLAIM_LEASE}), SEEN_TTL, now])
        if request is None:
            state, raw = self._one_trip([claim])[0]
        else:
            verdict, (state, raw) = self._one_trip(
                [(self._remember_request, [self.key(f"replay:{request.url}")], [request.body, max(1, request.keep)]),
                 claim])
            if verdict == REPLAY:
                if state == "new":  # claimed for a forged body: let the message's real delivery have it
                    self.release_message(openid, msg_key)
                return Seen(REPLAY)
        if state == "new":
            return Seen("new", session=_session(raw))
        data = json.loads(raw) if raw else {"state": "pending"}
        return Seen(data.get("state", "pending"), data.get("reply"))

    def finish_message(self, openid: str, msg_key: str, state: str, reply: str | None = None,
                       session: dict[str, Any] | None = None) -> None:
        """Keep the answer for WeChat's retries and, given one, save the session: one round trip, one
        script (the same writes as save_session's transaction), with the writes put off until now
        (Connection.writes_put_off)."""
        mode = "keep" if session is None else "set" if session else "del"
        self._one_trip(
            [(self._finish_message,
              [self._user(openid, "seen", msg_key), self._user(openid, "session"), self._user(openid, "profile")],
              [json.dumps({"state": state, "reply": reply}, ensure_ascii=False), SEEN_TTL, mode,
               json.dumps(session, ensure_ascii=False) if session else "", SESSION_TTL,
               self.clock.timestamp(), PROFILE_TTL])],
            self._take_put_off())

    def release_message(self, openid: str, msg_key: str) -> None:
        """Forget a claim whose handling failed, so WeChat's retry may try again."""
        self.r.delete(self._user(openid, "seen", msg_key))
