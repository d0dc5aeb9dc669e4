"""The typed message handlers receive and the reply they return; no XML, no HTTP."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

TEXT_KINDS = ("text", "voice")


@dataclass(frozen=True)
class Message:
    """One inbound WeChat message or event, reduced to what conversation logic needs."""

    openid: str
    kind: str  # text, voice, image, location, link, video, shortvideo, event, unknown
    text: str = ""  # the text, or a voice message's recognition
    msg_id: int = 0
    event: str = ""  # lower case: subscribe, unsubscribe, click, view, scan, location ...
    key: str = ""  # EventKey
    create_time: int = 0
    # a subscribe-message event's choices: (template id, accept | reject) in the order WeChat lists them
    choices: tuple[tuple[str, str], ...] = ()

    @property
    def dedup_key(self) -> str:
        """Messages are keyed by MsgId, events by CreateTime+Event+EventKey (all within the user), and
        a subscribe-message event by its choices too (two pop-ups may answer within one second)."""
        if self.msg_id:
            return f"m{self.msg_id}"
        if self.choices:
            digest = hashlib.sha1(repr(self.choices).encode()).hexdigest()[:12]
            return f"e{self.create_time}:{self.event}:{digest}"
        return f"e{self.create_time}:{self.event}:{self.key}"

    @property
    def has_text(self) -> bool:
        return self.kind in TEXT_KINDS and bool(self.text.strip())


@dataclass
class Reply:
    """What the bot answers: the passive reply text, and follow-ups sent as customer-service messages.

    `text` empty means reply `success` (nothing shown, nothing retried).
    """

    text: str = ""
    followups: list[str] = field(default_factory=list)
