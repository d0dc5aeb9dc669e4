"""Routes a message to the first handler that claims it, and keeps the user's session around the call.

The order is the table below: events and media first, global words (帮助, 取消) next, then a form
waiting for a value, then the step of another flow in progress, then plain questions, with
consultation last so it sees what nobody claimed.

A form never traps: when its step says a message is not the value asked for (it returns None), the
form is parked in session["paused"], the message is answered by the rest of the table, and the form
comes back with one line on how to go on or cancel (a booking made in one line while a complaint
waits for the name is made, then the name is asked again).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from handlers import appointments, booking, center, common, consult, record_form, records, staff
from handlers.consult import with_line
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
    records.FORM: record_form.on_form,
    records.RATE_REASON: record_form.on_rate_reason,
    appointments.FORM: appointments.on_form,
}

# The forms (slots with a validator and a prompt each) and the line that brings a parked one back.
FORMS: dict[str, Callable[[Session, Context], str]] = {
    booking.FORM: booking.reminder,
    records.FORM: record_form.reminder,
}

HANDLERS: list[Handler] = [
    Handler("event", lambda m, s, c: m.kind == "event", common.on_event),
    Handler("media", lambda m, s, c: not m.has_text, common.on_media),
    Handler("global", common.is_global_word, common.on_global_word),
    Handler("withdraw", record_form.is_withdrawal, record_form.on_withdrawal),
    Handler("staff", staff.matches, staff.handle),
    Handler("form", lambda m, s, c: s.get("flow") in FORMS, lambda m, s, c: FLOWS[s["flow"]](m, s, c)),
    Handler("appointment", appointments.matches, appointments.start),
    Handler("booking", booking.matches, booking.handle),
    Handler("records", record_form.matches, record_form.handle),
    Handler("flow", lambda m, s, c: s.get("flow") in FLOWS, lambda m, s, c: FLOWS[s["flow"]](m, s, c)),
    Handler("material-check", consult.is_check_request, consult.start_check),
    Handler("who", center.asks_who, center.who_handles),
    Handler("center", center.matches, center.answer),
    Handler("greeting", common.is_greeting, common.on_greeting),
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
                return resume(reply, session, ctx)
            flow, slots = session.pop("flow", None), session.pop("slots", None)
            if flow in FORMS:  # not the value the form asked for: answered below, the form kept
                session["paused"] = {"flow": flow, "slots": slots}
            elif session.get("paused"):  # a pick list under an aside gave way: the parked form takes it
                unpark(session)
                return dispatch(message, session, ctx)
    raise RuntimeError("the consult handler always answers")


def unpark(session: Session) -> str:
    paused = session.pop("paused")
    session["flow"], session["slots"] = paused["flow"], paused["slots"]
    return paused["flow"]


def resume(reply: Reply, session: Session, ctx: Context) -> Reply:
    """After an aside, the parked form comes back with one line on how to go on or cancel."""
    if not session.get("paused") or not reply.text:
        return reply
    if session.get("flow") in FORMS:
        return reply  # the aside opened a form of its own: the parked one comes back when it is done
    if session.get("flow"):  # a pick list under the answer: the form waits behind it
        return with_line(reply, FORMS[session["paused"]["flow"]](
            {"flow": session["paused"]["flow"], "slots": session["paused"]["slots"]}, ctx))
    flow = unpark(session)
    return with_line(reply, FORMS[flow](session, ctx))


def handle_message(message: Message, session: Session, ctx: Context) -> tuple[Reply, Session | None]:
    """One conversation step: the reply, and the session to save (None: nothing to save, the user left
    or WeChat only reported their subscribe-message choices, which are not a message from them)."""
    reply = dispatch(message, session, ctx)
    return reply, (None if message.event == "unsubscribe" or message.event in common.CONSENT_EVENTS else session)
