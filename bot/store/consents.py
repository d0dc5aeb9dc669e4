"""What each user agreed to receive as subscribe messages (订阅通知), per template: WeChat tells the
account in events (subscribe_msg_popup_event: 同意/取消 in the pop-up; subscribe_msg_change_event: a
refusal in the service-notice settings; subscribe_msg_sent_event: a delivery WeChat refused).
Lua: consent_take.lua.

Keys: {u:<openid>}:consents  hash: <template id> -> accept | reject; <template id>:left -> messages the
one-time agreements still allow; <template id>:at -> when the user last chose.
"""
from __future__ import annotations

from bot.store.connection import Connection

CONSENT_TTL = 400 * 24 * 3600  # a one-time agreement has no deadline at WeChat; kept this long after the last choice
MAX_LEFT = 50  # one-time agreements counted at most (the pop-up is the user's own doing, but bounded all the same)


class Consents(Connection):
    """Named operations on users' subscribe-message agreements."""

    SCRIPTS = {"_consent_take": "consent_take"}

    def _consents(self, openid: str) -> str:
        return self._user(openid, "consents")

    def note_subscribe_choice(self, openid: str, template_id: str, accepted: bool) -> None:
        """The user agreed to (one more message of) a template, or refused it (every agreement ends)."""
        key = self._consents(openid)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, mapping={template_id: "accept" if accepted else "reject",
                                f"{template_id}:at": self.clock.timestamp()})
        if accepted:
            pipe.hincrby(key, f"{template_id}:left", 1)
        else:
            pipe.hset(key, f"{template_id}:left", 0)
        pipe.expire(key, CONSENT_TTL)
        results = pipe.execute()
        if accepted and int(results[1]) > MAX_LEFT:
            self.r.hset(key, f"{template_id}:left", MAX_LEFT)

    def subscribe_choice(self, openid: str, template_id: str) -> tuple[str, int]:
        """(accept | reject | '', one-time messages left) for a user and template."""
        status, left = self.r.hmget(self._consents(openid), template_id, f"{template_id}:left")
        return status or "", int(left or 0)

    def may_subscribe(self, openid: str, template_id: str, long_term: bool = False) -> bool:
        """Whether a subscribe message of this template may go to the user now (nothing is taken)."""
        status, left = self.subscribe_choice(openid, template_id)
        return status == "accept" and (long_term or left > 0)

    def take_subscribe(self, openid: str, template_id: str, long_term: bool = False) -> bool:
        """Take one message of the user's agreement, atomically: two workers never spend one agreement twice."""
        return bool(self._consent_take(keys=[self._consents(openid)], args=[template_id, "1" if long_term else "0"]))

    def give_back_subscribe(self, openid: str, template_id: str, long_term: bool = False) -> None:
        """The message taken was not delivered (a transport error): the agreement still holds it."""
        if not long_term:
            self.r.hincrby(self._consents(openid), f"{template_id}:left", 1)
