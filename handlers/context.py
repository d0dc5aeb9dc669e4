"""What a handler may use besides the message and session: knowledge, calendar, clock, store, renderer.

The store is reached through the named operations below (`Storage`, in the manner of python-telegram-bot's
persistence interface): handlers declare what they need; bot/store implements it and bot/app builds the
Context. A new storage operation for a handler is named here first."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from handlers.clock import Clock
from handlers.render import Renderer
from knowledge.calendar import ArrangementSource, WorkCalendar
from knowledge.loader import KnowledgeBase
from knowledge.matcher import Matcher


class BookingStorage(Protocol):
    """The seats of each resource-day, taken and given back atomically."""

    def book(self, resource: str, code_letters: str, day: str, slot: str, openid: str, booking: dict,
             capacity: int, per_day: int, idempotency: str) -> Any: ...  # .outcome, .code, .booking
    def booked(self, resource: str, day: str, idempotency: str) -> dict | None: ...
    def get(self, code: str, resources: dict[str, str]) -> dict | None: ...
    def transition(self, booking: dict, allowed: tuple[str, ...], to: str, free: bool,
                   **fields: Any) -> tuple[bool, dict | str]: ...
    def of_user(self, openid: str, since: float) -> list[dict]: ...
    def seats_taken(self, resource: str, day: str, slots: list[str]) -> dict[str, int]: ...
    def of_day(self, day: str) -> list[dict]: ...  # every booking of a day (a calendar change)
    def record_no_show(self, openid: str, code: str, at: float) -> None: ...
    def no_shows(self, openid: str, since: float) -> int: ...


class RecordStorage(Protocol):
    """First-responder records and delegation cases, each change one transaction with its history."""

    def next_number(self, prefix: str, day: str) -> str: ...
    def create(self, no: str, fields: dict[str, Any], event: dict[str, Any], due: float,
               idempotency: str) -> tuple[str, bool]: ...
    def get(self, no: str) -> dict[str, Any] | None: ...
    def history(self, no: str) -> list[dict[str, Any]]: ...
    def update(self, no: str, fields: dict[str, Any], event: dict[str, Any], *, staff: str = "",
               new_staff: str | None = None, close: bool = False, due: float | None = None) -> None: ...
    def update_once(self, no: str, once: str, fields: dict[str, Any], event: dict[str, Any], *,
                    when: Callable[[dict[str, Any]], bool] | None = None, **index: Any) -> str: ...
    def mark(self, no: str, what: str) -> None: ...
    def marked(self, no: str, what: str) -> bool: ...
    def of_staff(self, name: str) -> list[dict[str, Any]]: ...
    def of_user(self, openid: str) -> list[dict[str, Any]]: ...
    def open_numbers(self) -> list[str]: ...  # open records by due time (a calendar change)
    def ask_rating(self, openid: str, no: str) -> None: ...
    def rating_asked(self, openid: str) -> str | None: ...
    def rating_done(self, openid: str) -> None: ...


class Storage(Protocol):
    """Every storage operation a handler uses (bot.store.Store implements it)."""

    @property
    def bookings(self) -> BookingStorage: ...
    @property
    def records(self) -> RecordStorage: ...

    # citizens
    def profile(self, openid: str) -> dict[str, str]: ...
    def forget_user(self, openid: str) -> None: ...
    # messages the worker sends (outbox) and jobs it runs later
    def enqueue(self, openid: str, kind: str, payload: dict[str, Any], dedup: str | None = None) -> str: ...
    def schedule(self, job: dict[str, Any], at: float) -> None: ...
    def unschedule(self, job: dict[str, Any]) -> None: ...
    # staff
    def staff(self, name: str) -> dict[str, str] | None: ...
    def staff_by_openid(self, openid: str) -> dict[str, str] | None: ...
    def add_staff(self, name: str, openid: str, role: str = "window", backup: str = "") -> None: ...
    def use_bind_code(self, code: str) -> str | None: ...
    def away_until(self, name: str) -> float: ...
    # ledgers of the knowledge base
    def log_unanswered(self, question: str) -> None: ...
    def log_referral(self, question: str, unit: str, reason: str, kind: str = "referral") -> None: ...


@dataclass
class Context:
    kb: KnowledgeBase
    matcher: Matcher
    calendar: WorkCalendar
    clock: Clock
    store: Storage
    render: Renderer
    public_url: str

    @classmethod
    def build(cls, kb: KnowledgeBase, store: Storage, clock: Clock, public_url: str,
              cache_dir: Path | None = None,
              calendar_source: ArrangementSource | None = None) -> "Context":
        """`calendar_source`: where the imported holiday notices live (bot.store.calendar.CalendarStore)."""
        return cls(kb=kb, matcher=Matcher(kb, cache_dir=cache_dir), calendar=WorkCalendar(kb.center, calendar_source),
                   clock=clock, store=store, render=Renderer(), public_url=public_url.rstrip("/"))

    def notice_url(self, matter_id: str) -> str:
        return f"{self.public_url}/notice/{matter_id}"

    def hours_context(self) -> dict:
        """Template variables describing the center's opening hours."""
        hours = self.kb.center.hours
        return {"center": self.kb.center, "periods": hours.periods, "weekdays": weekday_span(hours.weekdays)}


def weekday_span(days: list[int]) -> str:
    """[1,2,3,4,5] -> 周一至周五; [1,3] -> 周一、周三."""
    names = "一二三四五六日"
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        return f"周{names[days[0] - 1]}至周{names[days[-1] - 1]}"
    return "、".join(f"周{names[d - 1]}" for d in days)
