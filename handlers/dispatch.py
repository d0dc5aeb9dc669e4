"""Routes a message to the first handler that claims it, and keeps the user's session around the call.

The order is the table below: events and media first, global words (帮助, 取消) next, then the step
of a flow in progress, then plain questions, with consultation last so it sees what nobody claimed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from handlers import appointments, booking, center, common, consult, records, staff
from handlers.context import Context
from handlers.message import Message, Reply

Session = dict[str, Any]
Step = Callable[[Message, Session, Context], Optional[Reply]]


@dataclass(frozen=True)
class Handler:
    name: str
    matches: Callable[[Message, Session, Context], bool]
    handle: Step


# A flow in progress is a state name in session["flow"]; its step may return None to let the
# message fall through to ordinary handling (the user changed the subject).
FLOWS: dict[str, Step] = {
    consult.PICK: consult.on_pick,
    consult.CHECK: consult.on_check,
    booking.FORM: booking.on_form,
    booking.PICK_CANCEL: booking.on_pick_cancel,
    records.FORM: records.on_form,
    records.RATE_REASON: records.on_rate_reason,
    appointments.FORM: appointments.on_form,
}

HANDLERS: list[Handler] = [
    Handler("event", lambda m, s, c: m.kind == "event", common.on_event),
    Handler("media", lambda m, s, c: not m.has_text, common.on_media),
    Handler("global", common.is_global_word, common.on_global_word),
    Handler("withdraw", records.is_withdrawal, records.on_withdrawal),
    Handler("staff", staff.matches, staff.handle),
    Handler("appointment", appointments.matches, appointments.start),
    Handler("booking", booking.matches, booking.handle),
    Handler("records", records.matches, records.handle),
    Handler("flow", lambda m, s, c: s.get("flow") in FLOWS, lambda m, s, c: FLOWS[s["flow"]](m, s, c)),
    Handler("material-check", consult.is_check_request, consult.start_check),
    Handler("who", center.asks_who, center.who_handles),
    Handler("center", center.matches, center.answer),
    Handler("consult", lambda m, s, c: True, consult.answer),
]


def check_tables() -> None:
    """Fail at import when a flow state has no step (like python-telegram-bot's construction checks)."""
    for state, step in FLOWS.items():
        if not callable(step):
            raise TypeError(f"flow state {state!r} has no callable step")


check_tables()


def dispatch(message: Message, session: Session, ctx: Context) -> Reply:
    for handler in HANDLERS:
        if handler.matches(message, session, ctx):
            reply = handler.handle(message, session, ctx)
            if reply is not None:
                return reply
            session.pop("flow", None)
            session.pop("slots", None)
    raise RuntimeError("the consult handler always answers")


def handle_message(message: Message, session: Session, ctx: Context) -> tuple[Reply, Session | None]:
    """One conversation step: the reply, and the session to save (None when the user left)."""
    reply = dispatch(message, session, ctx)
    return reply, (None if message.event == "unsubscribe" else session)
