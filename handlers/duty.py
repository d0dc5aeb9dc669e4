"""Who is on duty (AB岗, 首问负责): the A and B holders of each record type and window, as center.yaml sets
them or as the roster changed them live (console, CLI); who of them takes a record (the first of A, B1,
B2, ... on duty and not named in a complaint, else a leader); who a record passes to when its holder
does not take it in time; and the days ahead when A and every B of a post are away at once."""
from __future__ import annotations

import datetime as dt

from pydantic import ValidationError

from handlers.context import Context
from knowledge.schema import Holders

HORIZON_DAYS = 30  # how far ahead the roster looks for a post nobody holds


# -- the posts and their holders --------------------------------------------------------------------------
def posts(ctx: Context) -> dict[str, tuple[str, Holders]]:
    """Every post with holders: "type:<id>" / "window:<id>" -> (label, center.yaml's holders)."""
    out: dict[str, tuple[str, Holders]] = {}
    records = ctx.kb.center.records
    for kind_id, kind in (records.types.items() if records else ()):
        out[f"type:{kind_id}"] = (kind.label, kind)
    for window in ctx.kb.center.windows:
        out[f"window:{window.id}"] = (window.name, window)
    return out


def _read(over: dict | None, base: Holders) -> Holders:
    if not over:
        return Holders(a=base.a, b=base.b)
    try:
        return Holders(a=over.get("a"), b=over.get("b") or [])
    except ValidationError:  # set by hand in Redis and broken: the YAML's holders still answer
        return Holders(a=base.a, b=base.b)


def all_holders(ctx: Context) -> dict[str, tuple[str, Holders, bool]]:
    """post -> (label, its holders now, whether they were set live over center.yaml's)."""
    overrides = ctx.store.holder_overrides()
    return {post: (label, _read(overrides.get(post), base), post in overrides)
            for post, (label, base) in posts(ctx).items()}


def holders_of(ctx: Context, post: str) -> Holders:
    """The holders of one post ("type:complaint", "window:minzheng") now."""
    label_base = posts(ctx).get(post)
    if label_base is None:
        return Holders()
    return _read(ctx.store.holder_overrides().get(post), label_base[1])


def chain(ctx: Context, kind_id: str, record: dict | None = None) -> list[str]:
    """A, then each B in order, of a record: its own (a window's, kept on an appointment) or its type's."""
    if record and record.get("a"):
        b = record.get("b") or []
        return [record["a"], *([b] if isinstance(b, str) else b)]
    return holders_of(ctx, f"type:{kind_id}").chain


def check(ctx: Context, a: str | None, b: list[str]) -> tuple[Holders | None, str]:
    """New holders of a post, validated: names on the roster, none twice, A not also a B.
    (holders, "") or (None, why, in Chinese)."""
    names = [n for n in ([a] if a else []) + list(b)]
    unknown = [n for n in names if ctx.store.staff(n) is None]
    if unknown:
        return None, f"工作人员名单中没有{'、'.join(unknown)}，请先添加。"
    try:
        return Holders(a=a or None, b=b), ""
    except ValidationError as exc:
        msg = str(exc.errors()[0]["msg"])
        if "more than once" in msg:
            return None, "B岗人员不能重复。"
        if "A holder" in msg:
            return None, f"{a}已是A岗，不能同时作为B岗。"
        return None, "A岗、B岗设定有误，请核对。"


# -- who is there ----------------------------------------------------------------------------------------
def away_at(ctx: Context, name: str, ts: float) -> bool:
    return any(start <= ts < end for start, end in ctx.store.away_periods(name))


def present(ctx: Context, name: str | None, avoid: list[str] | tuple = ()) -> dict | None:
    """The staff member `name` if on the roster, not away now and not named in `avoid` (回避)."""
    if not name or name in avoid:
        return None
    member = ctx.store.staff(name)
    if member and not away_at(ctx, name, ctx.clock.timestamp()):
        return member
    return None


def first_leader(ctx: Context, avoid: list[str] | tuple = (), besides: str = "") -> dict | None:
    for name in ctx.kb.center.records.leaders:
        leader = present(ctx, name, avoid) if name != besides else None
        if leader:
            return leader
    return None


def responder_for(ctx: Context, kind_id: str, avoid: list[str] | tuple = (),
                  record: dict | None = None) -> tuple[dict | None, bool]:
    """The first of A, B1, B2, ... on duty, else a leader: (staff member, whether it is the A holder).
    No one named in `avoid` (回避: the staff a complaint is about) is chosen."""
    for i, name in enumerate(chain(ctx, kind_id, record)):
        member = present(ctx, name, avoid)
        if member:
            return member, i == 0
    return first_leader(ctx, avoid), False


def has_next(ctx: Context, record: dict, holder: str) -> bool:
    """Whether a record `holder` does not take could pass on (to a later B holder or a leader)."""
    names = chain(ctx, record["type"], record)
    if holder not in names:
        return False
    avoid = record.get("avoid") or ()
    later = [n for n in names[names.index(holder) + 1:] if n not in avoid]
    return bool(later) or any(n not in avoid and n != holder for n in ctx.kb.center.records.leaders)


def next_after(ctx: Context, record: dict, holder: str) -> tuple[dict | None, bool]:
    """Who a record passes to when `holder` (one of its A/B holders) did not take it in time: the next B
    holder in order on duty and not avoided, else a leader: (staff member or None, whether a leader)."""
    names = chain(ctx, record["type"], record)
    if holder not in names:
        return None, False
    avoid = record.get("avoid") or ()
    for name in names[names.index(holder) + 1:]:
        member = present(ctx, name, avoid)
        if member:
            return member, False
    leader = first_leader(ctx, avoid, besides=holder)
    return leader, leader is not None


# -- the days ahead with nobody on a post ------------------------------------------------------------------
def _spans(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    spans: list[tuple[dt.date, dt.date]] = []
    for day in days:
        if spans and day == spans[-1][1] + dt.timedelta(days=1):
            spans[-1] = (spans[-1][0], day)
        else:
            spans.append((day, day))
    return spans


def span_text(first: dt.date, last: dt.date) -> str:
    one = f"{first.month}月{first.day}日"
    return one if first == last else f"{one}至{last.month}月{last.day}日"


def uncovered(ctx: Context, days: int = HORIZON_DAYS) -> list[dict]:
    """The posts whose A holder and every B holder are away on the same days within the next `days` days
    (working days only: nobody is needed when the center is closed): each {post, label, holders, days,
    spans: [(first, last)], text: "12月10日至12月12日、12月15日", now: whether today is one of them}."""
    today = ctx.clock.today()
    tz = ctx.clock.now().tzinfo
    periods: dict[str, list[tuple[float, float]]] = {}
    out = []
    for post, (label, holders, _) in all_holders(ctx).items():
        names = holders.chain
        if not names:
            continue  # the leaders hold it
        for n in names:
            periods.setdefault(n, ctx.store.away_periods(n))
        gone = []
        for i in range(days):
            day = today + dt.timedelta(days=i)
            if not ctx.calendar.is_workday(day):
                continue
            noon = dt.datetime.combine(day, dt.time(12), tz).timestamp()
            if i == 0:
                noon = max(noon, ctx.clock.timestamp())
            if all(any(s <= noon < e for s, e in periods[n]) for n in names):
                gone.append(day)
        if gone:
            spans = _spans(gone)
            out.append({"post": post, "label": label, "holders": holders, "days": gone, "spans": spans,
                        "text": "、".join(span_text(a, b) for a, b in spans), "now": gone[0] == today})
    return out
