"""Answers questions about the center itself: opening hours on a given day, where it is, its phones."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from handlers import duty
from handlers.context import Context
from handlers.message import Message, Reply
from handlers.when import parse_day, parse_time
from knowledge.holiday_law import FIRST_YEAR, LAST_YEAR
from knowledge.text import normalize

_HOURS = re.compile(r"几点|上班|下班|开门|关门|营业|办公时间|工作时间|开放时间|上班时间|休息吗|放假|开放吗|办公吗|有人吗|开着")
_WHERE = re.compile(r"(中心|你们|贵中心|大厅|服务站|办事大厅).{0,3}(在哪|地址|位置|怎么走|怎么去)|^(地址|位置|在哪|在哪里|在哪儿|怎么走)[?？]?$"
                    r"|(怎么|咋|如何)(去|走到|到)(你们|中心|贵中心|大厅|办事大厅)")
_PHONE = re.compile(r"(中心|你们|咨询|投诉|监督|联系).{0,3}(电话|号码|联系方式)|^(电话|联系电话|联系方式)[?？]?$")
# "can I come and get things done then": a day, a time of day or the lunch break, with 办事/办理
_WHEN_WORD = r"(今天|明天|后天|大后天|周[一二三四五六日天末]|星期.|礼拜.|\d{1,2}[月号日点]|[一二三四五六七八九十两]+点|上午|下午|中午|晚上|现在|这会儿?|节假日|假期)"
_BUSINESS = re.compile(r"(能|可以|还能|能不能|可不可以|方便)(去|来|过来|过去|到中心)?办事|办事吗|办事不|"
                       + _WHEN_WORD + r".{0,10}(能|可以|还能|能不能|可不可以)(去|来|过来|过去)?(办|开门)|"
                       r"下班(以)?后.{0,6}(办|来|去)|(中午|午休|晚上|夜里|周末|节假日|假期).{0,8}(办|开门|有人)|延时")
_VISIT = re.compile(r"(能|可以|可不可以|能不能)(去|来|过来|过去)?(办事|办业务|办理)(吗|么|嘛)?")
_FESTIVALS = {"元旦": "元旦", "春节": "春节", "过年": "春节", "清明": "清明节", "五一": "劳动节",
              "劳动节": "劳动节", "端午": "端午节", "中秋": "中秋节", "国庆": "国庆节", "十一": "国庆节"}


def is_center_question(text: str) -> bool:
    """Hours on a day or at a time, the address, the phones: the center's to answer, never a matter's."""
    text = text.strip()
    return bool(_HOURS.search(text) or _WHERE.search(text) or _PHONE.search(text) or _BUSINESS.search(text))


def is_phone_question(text: str) -> bool:
    return bool(_PHONE.search(text.strip()))


_WHO = re.compile(r"是?谁负责|负责人是谁|负责人|谁管的?|归谁管|哪位同志|哪个工作人员|哪位工作人员|AB岗|A岗|B岗|是谁办的?|谁办理?")


def asks_who(message: Message, session: dict[str, Any], ctx: Context) -> bool:
    """"低保是谁负责的": the window of a matter and its A/B holders, as the center publishes them (AB岗)."""
    return bool(message.has_text and len(message.text) <= 40 and _WHO.search(message.text))


def who_handles(message: Message, session: dict[str, Any], ctx: Context) -> Reply | None:
    rest = _WHO.sub(" ", message.text).strip(" 的呀啊呢吗？?。，,")
    result = ctx.matcher.match(rest) if len(rest) >= 2 else None
    if result is None or result.outcome != "answer":
        return None  # not about a matter: ordinary handling
    matter = result.best
    window = ctx.kb.center.window(matter.window)
    on_duty = duty.holders_of(ctx, f"window:{window.id}") if window else None
    return Reply(ctx.render("center/who.txt", m=matter, window=window, holders=on_duty, center=ctx.kb.center))


def matches(message: Message, session: dict[str, Any], ctx: Context) -> bool:
    text = message.text.strip()
    if is_center_question(text):
        return True
    # "2027年2月8日能去办事吗": a day and a visit is a question about that day's hours
    return bool(_VISIT.search(text) and parse_day(text, ctx.clock.today()) is not None)


def answer(message: Message, session: dict[str, Any], ctx: Context) -> Reply:
    text = normalize(message.text, strip_fillers=False)
    if _WHERE.search(message.text.strip()) and not _HOURS.search(message.text):
        return Reply(ctx.render("center/location.txt", center=ctx.kb.center))
    if _PHONE.search(message.text.strip()) and not _HOURS.search(message.text):
        return Reply(ctx.render("center/phones.txt", **ctx.hours_context()))
    today = ctx.clock.today()
    festival = next((name for word, name in _FESTIVALS.items() if word in text), None)
    if festival:
        days = festival_days(ctx, festival, today)
        known = all(ctx.calendar.day(d).known for d in days)
        return Reply(ctx.render("center/festival.txt", festival=festival, days=days, known=known,
                                with_year=bool(days) and days[0].year != today.year, **today_context(ctx)))
    day = parse_day(text, today)
    at = parse_time(message.text)
    if at is not None and (day is None or ctx.calendar.is_workday(day)):  # 中午12点能办事吗, 下午5点还能去吗
        moment = dt.datetime.combine(day or today, at, ctx.clock.now().tzinfo)
        return Reply(ctx.render("center/at_time.txt", at=at, day=day, open=ctx.calendar.is_open_at(moment),
                                by_appointment=ctx.calendar.by_appointment_at(moment),
                                after=ctx.calendar.next_opening(moment), **today_context(ctx)))
    if day is None:
        return Reply(ctx.render("center/hours.txt", **today_context(ctx)))
    info = ctx.calendar.day(day)
    if not info.supported:
        return Reply(ctx.render("center/out_of_range.txt", day=day, first=FIRST_YEAR, last=LAST_YEAR,
                                **ctx.hours_context()))
    is_open = ctx.calendar.is_workday(day)
    after = None if is_open else ctx.calendar.next_opening(
        dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), ctx.clock.now().tzinfo))
    service = "、".join(f"{start:%H:%M}—{end:%H:%M}" for start, end in ctx.calendar.service_periods(day)) \
        if not is_open else ""  # a day off with extended hours (周六上午): by appointment
    return Reply(ctx.render("center/day.txt", info=info, open=is_open, next_after=after, service=service,
                            is_today=day == today, with_year=day.year != today.year, **today_context(ctx)))


def today_context(ctx: Context) -> dict:
    """Template variables for 'are you open now, and when next'."""
    now = ctx.clock.now()
    return {
        **ctx.hours_context(),
        "now": now,
        "open_now": ctx.calendar.is_open_at(now),
        "next_opening": ctx.calendar.next_opening(now),
        "today_info": ctx.calendar.day(now.date()),
    }


def festival_days(ctx: Context, festival: str, today: dt.date) -> list[dt.date]:
    """The days off of the next `festival` within a year, as the calendar knows them."""
    days: list[dt.date] = []
    day = today
    for _ in range(400):
        info = ctx.calendar.day(day)
        if festival in (info.holiday or "").split("、"):
            days.append(day)
        elif days and not info.workday and not info.known:
            days.append(day)  # by law alone: the weekend days of the same break (a notice names its days)
        elif days:
            break
        day += dt.timedelta(days=1)
    return days
