"""Reads days and times as people write them: 今天/明天/下周三/11月25日, 上午/下午3点/九点半/15:00."""
from __future__ import annotations

import datetime as dt
import re

_CN_NUM = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "日": 7, "天": 7, "七": 7}
_WEEKDAY = re.compile(r"(下下|下个?|这个?|本)?(?:周|星期|礼拜)([一二三四五六日天七1-7])")
_MONTH_DAY = re.compile(r"(?:(\d{4})[年\-/.])?(\d{1,2})[月\-/.](\d{1,2})[日号]?")
_RELATIVE = {"今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2, "大后天": 3}
_CN_DIGIT = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
             "十": 10, "十一": 11, "十二": 12}
_HOUR = r"(\d{1,2}|十[一二]?|[一二两三四五六七八九])"
_TIME = re.compile(r"(上午|早上|早晨|中午|下午|晚上)?\s*" + _HOUR + r"\s*(?:[:：点时]\s*(半|\d{1,2}(?:分)?)?)")
_PERIOD = re.compile(r"上午|早上|早晨|下午|晚上")


def parse_day(text: str, today: dt.date) -> dt.date | None:
    """The day a question is about: 今天/明天/后天, 周六/下周三, 11月25日/2026-11-25; None if none."""
    for word in sorted(_RELATIVE, key=len, reverse=True):
        if word in text:
            return today + dt.timedelta(days=_RELATIVE[word])
    m = _WEEKDAY.search(text)
    if m:
        target = int(m[2]) if m[2].isdigit() else _CN_NUM[m[2]]
        start_of_week = today - dt.timedelta(days=today.weekday())
        if m[1] and m[1].startswith("下下"):
            return start_of_week + dt.timedelta(days=14 + target - 1)
        if m[1] and m[1].startswith("下"):
            return start_of_week + dt.timedelta(days=7 + target - 1)
        if m[1]:  # 这周/本周
            return start_of_week + dt.timedelta(days=target - 1)
        ahead = (target - 1 - today.weekday()) % 7
        return today + dt.timedelta(days=ahead)
    if "周末" in text:
        return today + dt.timedelta(days=(5 - today.weekday()) % 7)
    m = _MONTH_DAY.search(text)
    if m:
        year = int(m[1]) if m[1] else today.year
        try:
            day = dt.date(year, int(m[2]), int(m[3]))
        except ValueError:
            return None
        if not m[1] and day < today - dt.timedelta(days=31):
            day = day.replace(year=year + 1)  # "1月2日" asked in November means next year
        return day
    return None


def parse_time(text: str) -> dt.time | None:
    """下午3点 -> 15:00, 9:30, 九点半 -> 9:30, 15点 -> 15:00; a bare hour 1-6 means the afternoon."""
    m = _TIME.search(text)
    if not m:
        return None
    period, hour_text, minute_text = m.group(1), m.group(2), m.group(3)
    hour = int(hour_text) if hour_text.isdigit() else _CN_DIGIT.get(hour_text)
    if hour is None or hour > 23:
        return None
    minute = 30 if minute_text == "半" else int(minute_text.rstrip("分")) if minute_text else 0
    if minute > 59:
        return None
    if period in ("下午", "晚上") and hour < 12:
        hour += 12
    elif period is None and 1 <= hour <= 6:
        hour += 12  # nobody books the gym at 3 a.m.: 3点 is the afternoon
    return dt.time(hour, minute)


def parse_period(text: str) -> str | None:
    """上午 or 下午 when the text names half a day without a time."""
    m = _PERIOD.search(text)
    if not m:
        return None
    return "上午" if m[0] in ("上午", "早上", "早晨") else "下午"
