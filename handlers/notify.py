"""Messages the center sends a citizen on its own initiative, and what they look like when WeChat lets
only a template message or a subscribe message (订阅通知) through.

A notification is queued as a customer-service text carrying its facts (`Notice`): number, subject,
status, time and a hint. The worker sends the text while WeChat allows it (48 hours after the
citizen's last message, 5 messages per message) and otherwise builds the center's configured template
or subscribe message from those facts (`fallback_data`). WeChat shows each keyword of those messages
cut at 20 characters and nothing of `first` and `remark`, so each fact comes in several lengths, the
most telling first, and the longest that fits is shown: never a silent cut.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import asdict, dataclass, field

from handlers.context import Context
from knowledge.schema import Notifications

log = logging.getLogger(__name__)

WINDOW = 48 * 3600  # WeChat accepts customer-service messages this long after the user's last message

# The order the worker spends a citizen's customer-service messages in (lower first): what the citizen
# is waiting for right now (the rest of an answer), a record's result, its progress, then reminders.
PRIORITY = {"answer": 0, "result": 1, "progress": 2, "booking": 2, "reminder": 3}

KEYWORD_CHARS = 20  # WeChat cuts every keyword value here (May 2023)
STRING_CHARS = 32  # character_string fields: letters, digits and symbols
PHRASE_CHARS = 5  # phrase fields: Chinese characters only
_ASCII = re.compile(r"^[\x21-\x7e]+$")
_HAN = re.compile(r"^[\u4e00-\u9fff]+$")


@dataclass(frozen=True)
class Notice:
    """The facts of a notification, for the fields of a template or subscribe message.

    `subject` and `hint` list ways of saying the same thing, longest first; `time` is the moment the
    notification is about (an appointment's start; else when it was sent)."""

    number: str
    subject: tuple[str, ...]
    status: str
    time: float
    hint: tuple[str, ...] = ()
    kind: str = "progress"  # a key of PRIORITY

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Notice":
        return cls(number=str(data.get("number", "")), subject=tuple(data.get("subject", ())),
                   status=str(data.get("status", "")), time=float(data.get("time", 0)),
                   hint=tuple(data.get("hint", ())), kind=str(data.get("kind", "progress")))


@dataclass
class FieldProblem(Exception):
    """A fact that no form of fits a field: the configuration maps it where WeChat cannot show it."""

    field: str
    source: str
    value: str = ""
    reasons: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.field} cannot show {self.source} '{self.value}'"


def _fits(kind: str, value: str) -> bool:
    if not value:
        return False
    if kind in ("thing", "keyword"):
        return len(value) <= KEYWORD_CHARS
    if kind == "character_string":
        return len(value) <= STRING_CHARS and bool(_ASCII.match(value))
    if kind == "phrase":
        return len(value) <= PHRASE_CHARS and bool(_HAN.match(value))
    return len(value) <= KEYWORD_CHARS  # time, date: formatted by us


def _times(ts: float, kind: str, tz: dt.tzinfo | None) -> list[str]:
    d = dt.datetime.fromtimestamp(ts, tz)
    if kind in ("time", "date"):
        # WeChat's time/date format: 2019年10月1日 15:01
        return [f"{d.year}年{d.month}月{d.day}日 {d:%H:%M}"]
    return [f"{d.year}年{d.month}月{d.day}日 {d:%H:%M}", f"{d.month}月{d.day}日 {d:%H:%M}"]


def forms(source: str, notice: Notice, center_name: str, kind: str, tz: dt.tzinfo | None = None) -> list[str]:
    """The ways of showing `source` of a notice, most telling first."""
    if source == "number":
        return [notice.number]
    if source == "subject":
        return list(notice.subject)
    if source == "status":
        return [notice.status]
    if source == "time":
        return _times(notice.time, kind, tz)
    if source == "hint":
        return list(notice.hint)
    if source == "center":
        return [center_name]
    return []


def field_value(name: str, source: str, notice: Notice, center_name: str, tz: dt.tzinfo | None = None) -> str:
    """The longest form of `source` that WeChat shows whole in field `name`; FieldProblem if none does."""
    kind = re.sub(r"\d+$", "", name)
    options = forms(source, notice, center_name, kind, tz)
    for value in options:
        if _fits(kind, value):
            return value
    raise FieldProblem(name, source, options[-1] if options else "")


def fallback_data(config: Notifications, notice: Notice, center_name: str, tz: dt.tzinfo | None = None) -> dict:
    """The `data` of a template or subscribe message: the configured keyword fields only (no first,
    remark or colour), each within what WeChat shows; times in `tz` (the clock's zone). A fact that
    does not fit is left out of its field with a log line rather than cut: WeChat would cut it silently."""
    data = {}
    for name, source in config.fields.items():
        try:
            data[name] = {"value": field_value(name, source, notice, center_name, tz)}
        except FieldProblem as problem:
            log.warning("notification %s: %s; field left empty", notice.number, problem)
            data[name] = {"value": "-" if not name.startswith("phrase") else "无"}
    return data


def staff(ctx: Context, name: str, text: str, dedup: str, notice: Notice) -> None:
    """Queue `text` for a staff member of the roster (nobody when the name is not on it), with its facts
    for a template or subscribe message when a text cannot reach them."""
    member = ctx.store.staff(name) if name else None
    if member:
        ctx.store.enqueue(member["openid"], "text", {"content": text, "notice": notice.to_dict(),
                                                     "priority": PRIORITY[notice.kind]},
                          dedup=f"{dedup}:{member['openid']}")


def citizen(ctx: Context, openid: str, text: str, dedup: str, notice: Notice) -> bool:
    """Queue `text` for a citizen, with its facts for a template or subscribe message when a text
    cannot reach them. False when nothing configured can reach them now (kept for staff to see)."""
    if not openid or openid.startswith("phone:"):  # registered by staff: answered by phone
        return False
    payload = {"content": text, "notice": notice.to_dict(), "priority": PRIORITY.get(notice.kind, 2)}
    ctx.store.enqueue(openid, "text", payload, dedup=dedup)
    last_seen = float(ctx.store.profile(openid).get("last_seen", 0))
    if ctx.clock.timestamp() - last_seen < WINDOW or reachable_later(ctx, openid):
        return True
    log.info("citizen message %s kept: outside the 48-hour window, and no template message configured "
             "nor a subscribe message the citizen agreed to (center.yaml notifications)", dedup)
    return False


def reachable_later(ctx: Context, openid: str) -> bool:
    """Whether a configured template message, or a subscribe message the user agreed to, can reach them
    outside WeChat's 48 hours."""
    return any(config.kind == "template" or ctx.store.may_subscribe(openid, config.template_id, config.long_term)
               for config in ctx.kb.center.fallbacks)
