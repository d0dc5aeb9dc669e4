"""What a handler may use besides the message and session: knowledge, calendar, clock, store, renderer."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.clock import Clock
from bot.render import Renderer
from bot.store import Store
from bot.workdays import WorkCalendar
from knowledge.loader import KnowledgeBase
from knowledge.matcher import Matcher


@dataclass
class Context:
    kb: KnowledgeBase
    matcher: Matcher
    calendar: WorkCalendar
    clock: Clock
    store: Store
    render: Renderer
    public_url: str

    @classmethod
    def build(cls, kb: KnowledgeBase, store: Store, clock: Clock, public_url: str,
              cache_dir: Path | None = None) -> "Context":
        return cls(kb=kb, matcher=Matcher(kb, cache_dir=cache_dir), calendar=WorkCalendar(kb.center), clock=clock,
                   store=store, render=Renderer(), public_url=public_url.rstrip("/"))

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
